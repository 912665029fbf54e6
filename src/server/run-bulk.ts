import type { SessionStore } from '../api/ports.js';
import type { RunFilter, RunIndex, RunRecord } from '../api/run-index.js';
import { SproutError } from '../errors.js';
import type { ServerScheduler } from './server-options.js';

/** Most runs one bulk request selects; past it the answer says `truncated`. */
export const MAX_BULK_RUNS = 10_000;

/**
 * How far a bulk action got (after each chunk of runs): runs acted on so far out of those
 * matched, and the outcomes counted so far.
 *
 * @example
 * const progress: BulkProgress = { done: 200, total: 1000, acted: 198, skipped: 2, failed: 0 };
 */
export interface BulkProgress {
  /** Runs handled so far. */
  done: number;
  /** Runs matched (at most {@link MAX_BULK_RUNS}). */
  total: number;
  /** Cancelled or retried so far. */
  acted: number;
  /** Skipped so far. */
  skipped: number;
  /** Failed so far. */
  failed: number;
}

/** Runs acted on at once (cancels and retries are independent). */
const PARALLEL = 64;

/** What a bulk request does to each run it selects. */
export type BulkAction = 'cancel' | 'retry';

/**
 * What happened to one run: `cancelled` / `retried` (with the new run's id), `skipped` (with why:
 * not live, not ended in error or cancelled, a newer run exists, …) or `failed` (with the error).
 *
 * @example
 * const outcome: BulkRunOutcome = { run_id: 'r1', child_session_id: 'c1', outcome: 'retried', new_run_id: 'r9' };
 */
export interface BulkRunOutcome {
  run_id: string;
  child_session_id?: string | undefined;
  outcome: 'cancelled' | 'retried' | 'skipped' | 'failed';
  detail?: string | undefined;
  new_run_id?: string | undefined;
}

/**
 * The answer of `POST /v1/runs/bulk`: how many runs matched, were acted on and were skipped (or
 * failed), whether the selection stopped at {@link MAX_BULK_RUNS}, and each run's outcome.
 *
 * @example
 * const { matched, acted, skipped } = await bulkRuns(deps, { action: 'cancel', filter: { status: ['running'] } });
 */
export interface BulkResult {
  action: BulkAction;
  matched: number;
  acted: number;
  skipped: number;
  failed: number;
  truncated: boolean;
  results: BulkRunOutcome[];
}

/** What {@link bulkRuns} uses. */
export interface BulkDeps {
  index: RunIndex;
  store: SessionStore;
  scheduler: ServerScheduler;
}

/** A bulk request: the runs (by filter or by id) and the action. */
export interface BulkRequest {
  action: BulkAction;
  filter?: RunFilter | undefined;
  runIds?: readonly string[] | undefined;
}

const LIVE = new Set(['queued', 'running']);
const RETRYABLE = new Set(['error', 'cancelled']);

/**
 * Selects runs from the index (paging through it for a filter, up to {@link MAX_BULK_RUNS}) and
 * cancels or retries each: cancel calls `scheduler.cancel(child)` for a queued or running run
 * (each run's completion is published once by the scheduler, whatever the number of calls);
 * retry re-runs a child whose latest run ended `error` or `cancelled` — `scheduler.enqueue` when
 * its last message is the user's, else `scheduler.run` with its first prompt again.
 *
 * @example
 * const result = await bulkRuns({ index, store, scheduler }, { action: 'retry', runIds: ['r1', 'r2'] });
 */
export async function bulkRuns(deps: BulkDeps, request: BulkRequest, onProgress?: (progress: BulkProgress) => void): Promise<BulkResult> {
  const { runs, missing, truncated } = await select(deps.index, request);
  const results: BulkRunOutcome[] = missing.map((runId) => ({ run_id: runId, outcome: 'skipped', detail: 'unknown run' }));
  const act = request.action === 'cancel' ? cancelRun : retryRun;
  for (let i = 0; i < runs.length; i += PARALLEL) {
    const chunk = runs.slice(i, i + PARALLEL);
    results.push(
      ...(await Promise.all(
        chunk.map((run) =>
          act(deps, run).catch((error: unknown): BulkRunOutcome => ({
            run_id: run.run_id,
            child_session_id: run.child_session_id,
            outcome: error instanceof SproutError && error.code === 'SESSION_BUSY' ? 'skipped' : 'failed',
            detail: error instanceof Error ? error.message : String(error),
          })),
        ),
      )),
    );
    if (onProgress !== undefined) {
      const so = (outcome: BulkRunOutcome['outcome']): number => results.filter((result) => result.outcome === outcome).length;
      onProgress({
        done: Math.min(i + chunk.length, runs.length),
        total: runs.length,
        acted: so('cancelled') + so('retried'),
        skipped: so('skipped'),
        failed: so('failed'),
      });
    }
  }
  const count = (outcome: BulkRunOutcome['outcome']): number => results.filter((result) => result.outcome === outcome).length;
  return {
    action: request.action,
    matched: runs.length,
    acted: count('cancelled') + count('retried'),
    skipped: count('skipped'),
    failed: count('failed'),
    truncated,
    results,
  };
}

async function select(index: RunIndex, request: BulkRequest): Promise<{ runs: RunRecord[]; missing: string[]; truncated: boolean }> {
  if (request.runIds !== undefined) {
    const ids = [...new Set(request.runIds)].slice(0, MAX_BULK_RUNS);
    const runs: RunRecord[] = [];
    const missing: string[] = [];
    for (let i = 0; i < ids.length; i += PARALLEL) {
      const chunk = ids.slice(i, i + PARALLEL);
      const found = await Promise.all(chunk.map((id) => Promise.resolve(index.getRun(id))));
      found.forEach((run, j) => (run === undefined ? missing.push(chunk[j]!) : runs.push(run)));
    }
    return { runs, missing, truncated: request.runIds.length > MAX_BULK_RUNS };
  }
  const runs: RunRecord[] = [];
  let cursor: string | undefined;
  do {
    const page = await index.queryRuns({ ...request.filter, limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    runs.push(...page.runs);
    cursor = page.nextCursor;
  } while (cursor !== undefined && runs.length < MAX_BULK_RUNS);
  return { runs: runs.slice(0, MAX_BULK_RUNS), missing: [], truncated: runs.length > MAX_BULK_RUNS || cursor !== undefined };
}

async function cancelRun(deps: BulkDeps, run: RunRecord): Promise<BulkRunOutcome> {
  const base = { run_id: run.run_id, child_session_id: run.child_session_id };
  if (!LIVE.has(run.status)) return { ...base, outcome: 'skipped', detail: `run is ${run.status}` };
  const cancelled = await deps.scheduler.cancel(run.child_session_id, 'user');
  return cancelled ? { ...base, outcome: 'cancelled' } : { ...base, outcome: 'skipped', detail: 'no live run to cancel' };
}

async function retryRun(deps: BulkDeps, run: RunRecord): Promise<BulkRunOutcome> {
  const base = { run_id: run.run_id, child_session_id: run.child_session_id };
  if (!RETRYABLE.has(run.status)) return { ...base, outcome: 'skipped', detail: `run is ${run.status}, not error or cancelled` };
  const latest = (await deps.index.queryRuns({ child: run.child_session_id, limit: 1 })).runs[0];
  if (latest !== undefined && latest.run_id !== run.run_id)
    return { ...base, outcome: 'skipped', detail: `a newer run exists (${latest.run_id})` };
  const session = await deps.store.load(run.child_session_id);
  if (session === undefined) return { ...base, outcome: 'skipped', detail: 'the child session is gone' };
  const { scheduler } = deps;
  if (session.messages.at(-1)?.role === 'user' && scheduler.enqueue !== undefined) {
    const result = await scheduler.enqueue({ parentSessionId: run.parent_session_id, childSessionId: session.id, model: session.model });
    if (result.deduplicated === true) return { ...base, outcome: 'skipped', detail: `already has a live run (${result.runId})` };
    return { ...base, outcome: 'retried', new_run_id: result.runId };
  }
  const prompt = session.messages.find((message) => message.role === 'user')?.content;
  if (prompt === undefined || scheduler.run === undefined) {
    return {
      ...base,
      outcome: 'skipped',
      detail: prompt === undefined ? 'the child has no prompt' : 'this scheduler cannot re-run a session',
    };
  }
  const { runId } = await scheduler.run(session.id, { message: prompt });
  return { ...base, outcome: 'retried', new_run_id: runId };
}
