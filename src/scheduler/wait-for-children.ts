import { isLive, type RunRecord, type RunRegistry, type RunStatus } from './run-registry.js';

/** When `waitForChildren` resolves: all ended, any ended, or the first error (or all ended). */
export type WaitPolicy = 'all' | 'any' | 'first-error';

/** One child's state in a `waitForChildren` result (DESIGN §2). */
export interface ChildRunSummary {
  childSessionId: string;
  runId: string;
  status: RunStatus;
  error?: string | undefined;
  result?: string | undefined;
}

/** Summarises a run record. */
export function summarize(record: RunRecord): ChildRunSummary {
  const summary: ChildRunSummary = { childSessionId: record.childSessionId, runId: record.runId, status: record.status };
  if (record.error !== undefined) summary.error = record.error;
  if (record.result !== undefined) summary.result = record.result;
  return summary;
}

const isEnded = (status: RunStatus): boolean => status !== 'queued' && status !== 'running';

/** True once `policy` holds for these summaries. */
export function policyHolds(policy: WaitPolicy, runs: readonly ChildRunSummary[]): boolean {
  const ended = runs.filter((run) => isEnded(run.status));
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
  // Pin each child's run: the one it has at call time, or else the first one that shows up
  // (an enqueue still waiting for queue room). A later run of the same child does not count.
  const pinned = new Map<string, string>();
  const runs = () => registry.getSnapshot().context.runs;
  const pin = (): void => {
    for (const id of childSessionIds) {
      if (pinned.has(id)) continue;
      const record = runs().get(id);
      const known = fixed.get(id);
      // A child known only from the store counts as ended once the store says so.
      if (record && !(known && isEnded(known.status))) pinned.set(id, record.runId);
    }
  };
  const current = (): ChildRunSummary[] =>
    childSessionIds.map((id) => {
      const record = runs().get(id);
      const runId = pinned.get(id);
      if (record && record.runId === runId) return summarize(record);
      const known = fixed.get(id);
      if (runId === undefined && known) return known;
      // The pinned run was evicted from memory or replaced by a newer run: it ended.
      return { childSessionId: id, runId: runId ?? '', status: record && !isLive(record) ? record.status : 'cancelled' };
    });
  pin();
  return new Promise((resolve) => {
    const first = current();
    if (policyHolds(policy, first)) {
      resolve(first);
      return;
    }
    const subscription = registry.subscribe(() => {
      pin();
      const summaries = current();
      if (policyHolds(policy, summaries)) {
        subscription.unsubscribe();
        resolve(summaries);
      }
    });
  });
}
