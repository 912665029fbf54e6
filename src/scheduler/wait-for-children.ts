import type { Observable } from 'rxjs';
import { isTerminal } from '../../machines/run-status.js';
import type { ChildRunSummary, WaitPolicy } from '../api/scheduler-types.js';
import type { RunEnd, RunRecord } from './run-ledger.js';
import { policyHolds } from '../core/wait-policy.js';

/** Summarises a run record. */
export function summarize(record: RunRecord): ChildRunSummary {
  const summary: ChildRunSummary = { childSessionId: record.childSessionId, runId: record.runId, status: record.status };
  if (record.error !== undefined) summary.error = record.error;
  if (record.result !== undefined) summary.result = record.result;
  return summary;
}

/**
 * Resolves with the children's summaries once `policy` holds. Each child is pinned to one run:
 * the run it has at call time, or else the first one that shows up (an enqueue still waiting
 * for queue room). The pinned run's own end — status, error, reason and result, as published —
 * is what the summary reports, even when the child is queued again before the wait resolves or
 * the ended run was already evicted from memory (`retainEndedRuns`). `fixed` holds summaries of
 * children the run ledgers do not know (read from the store). `onHolds` is called synchronously
 * when the policy comes to hold after the call (in the turn the deciding run ended).
 *
 * @example
 * const runs = await waitForRuns(ledgers, ['c1', 'c2'], 'all', new Map());
 */
export function waitForRuns(
  ledgers: { runOf(childSessionId: string): RunRecord | undefined; ended$: Observable<RunEnd>; changed$: Observable<RunRecord> },
  childSessionIds: readonly string[],
  policy: WaitPolicy,
  fixed: ReadonlyMap<string, ChildRunSummary>,
  onHolds?: () => void,
): Promise<ChildRunSummary[]> {
  const pinned = new Map<string, string>();
  const outcomes = new Map<string, ChildRunSummary>();
  const wanted = new Set(childSessionIds);
  const pin = (): void => {
    for (const id of childSessionIds) {
      if (pinned.has(id)) continue;
      const record = ledgers.runOf(id);
      const known = fixed.get(id);
      // A child known only from the store counts as ended once the store says so.
      if (!record || (known && isTerminal(known.status))) continue;
      pinned.set(id, record.runId);
      if (isTerminal(record.status)) outcomes.set(record.runId, summarize(record));
    }
  };
  const current = (): ChildRunSummary[] =>
    childSessionIds.map((id) => {
      const runId = pinned.get(id);
      const known = fixed.get(id);
      if (runId === undefined) return known ?? { childSessionId: id, runId: '', status: 'queued' };
      const outcome = outcomes.get(runId);
      if (outcome) return outcome;
      const record = ledgers.runOf(id);
      if (record && record.runId === runId) return summarize(record);
      return { childSessionId: id, runId, status: 'queued' };
    });
  pin();
  return new Promise((resolve) => {
    const first = current();
    if (policyHolds(policy, first)) {
      resolve(first);
      return;
    }
    const check = (): void => {
      const summaries = current();
      if (!policyHolds(policy, summaries)) return;
      endedSubscription.unsubscribe();
      changedSubscription.unsubscribe();
      // Synchronously, in the turn the last run ended: a waiting run asks for its slot back
      // before that run's slot is given to a queued one.
      onHolds?.();
      resolve(summaries);
    };
    const endedSubscription = ledgers.ended$.subscribe((summary) => {
      if (!wanted.has(summary.childSessionId)) return;
      const known = fixed.get(summary.childSessionId);
      if (!pinned.has(summary.childSessionId) && !(known && isTerminal(known.status))) pinned.set(summary.childSessionId, summary.runId);
      if (pinned.get(summary.childSessionId) !== summary.runId) return;
      const outcome: ChildRunSummary = { childSessionId: summary.childSessionId, runId: summary.runId, status: summary.status };
      if (summary.error !== undefined) outcome.error = summary.error;
      if (summary.result !== undefined) outcome.result = summary.result;
      outcomes.set(summary.runId, outcome);
      check();
    });
    const changedSubscription = ledgers.changed$.subscribe(() => {
      pin();
      check();
    });
  });
}
