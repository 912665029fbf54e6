import type { CompletionReason } from '../../machines/agent-event.events.js';
import { isLive, type RunRecord, type RunRegistry, type RunStatus } from './run-registry.js';

/** When `waitForChildren` resolves: all ended, any ended, or the first error (or all ended). */
export type WaitPolicy = 'all' | 'any' | 'first-error';

/** One child's state in a `waitForChildren` result. */
export interface ChildRunSummary {
  childSessionId: string;
  runId: string;
  status: RunStatus;
  error?: string | undefined;
  reason?: CompletionReason | undefined;
  result?: string | undefined;
}

/** Summarises a run record. */
export function summarize(record: RunRecord): ChildRunSummary {
  const summary: ChildRunSummary = { childSessionId: record.childSessionId, runId: record.runId, status: record.status };
  if (record.error !== undefined) summary.error = record.error;
  if (record.reason !== undefined) summary.reason = record.reason;
  if (record.result !== undefined) summary.result = record.result;
  return summary;
}

/** True once `policy` holds for these summaries. */
export function policyHolds(policy: WaitPolicy, runs: readonly ChildRunSummary[]): boolean {
  const ended = runs.filter((run) => run.status !== 'queued' && run.status !== 'running');
  if (policy === 'all') return ended.length === runs.length;
  if (policy === 'any') return runs.length === 0 || ended.length > 0;
  return ended.length === runs.length || ended.some((run) => run.status === 'error');
}

/**
 * Resolves with the children's summaries once `policy` holds, watching the registry. `fixed`
 * holds summaries of children no longer in the registry (read from the store).
 *
 * @example
 * const runs = await waitOnRegistry(registry, ['c1', 'c2'], 'all', new Map());
 */
export function waitOnRegistry(
  registry: RunRegistry,
  childSessionIds: readonly string[],
  policy: WaitPolicy,
  fixed: ReadonlyMap<string, ChildRunSummary>,
): Promise<ChildRunSummary[]> {
  // Pin each child's run at call time: a later run of the same child does not count.
  const pinned = new Map<string, string>();
  for (const id of childSessionIds) {
    const record = registry.getSnapshot().context.runs.get(id);
    if (record) pinned.set(id, record.runId);
  }
  const current = (): ChildRunSummary[] =>
    childSessionIds.map((id) => {
      const record = registry.getSnapshot().context.runs.get(id);
      if (record && record.runId === pinned.get(id)) return summarize(record);
      const known = fixed.get(id);
      if (known) return known;
      // The pinned run was evicted or replaced: it ended.
      return { childSessionId: id, runId: pinned.get(id) ?? '', status: record && !isLive(record) ? record.status : 'cancelled' };
    });
  return new Promise((resolve) => {
    const first = current();
    if (policyHolds(policy, first)) {
      resolve(first);
      return;
    }
    const subscription = registry.subscribe(() => {
      const runs = current();
      if (policyHolds(policy, runs)) {
        subscription.unsubscribe();
        resolve(runs);
      }
    });
  });
}
