import { isTerminal } from '../../machines/run-status.js';
import type { ChildRunSummary, WaitPolicy } from '../api/scheduler-types.js';

const isEnded = (status: ChildRunSummary['status']): boolean => isTerminal(status);

/**
 * True once `policy` holds for these summaries: `all` ended, `any` ended (or none to wait for),
 * `first-error` one ended in `error` or all ended.
 *
 * @example
 * policyHolds('any', [{ childSessionId: 'c1', runId: 'r1', status: 'completed' }]); // true
 */
export function policyHolds(policy: WaitPolicy, runs: readonly ChildRunSummary[]): boolean {
  const ended = runs.filter((run) => isEnded(run.status));
  if (policy === 'all') return ended.length === runs.length;
  if (policy === 'any') return runs.length === 0 || ended.length > 0;
  return ended.length === runs.length || ended.some((run) => run.status === 'error');
}
