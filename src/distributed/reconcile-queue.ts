import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { OpenRun } from '../api/ports.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import { loadValidSession } from '../core/persist-run.js';
import { holdSlot } from './hold-slot.js';
import type { RedisKeys } from './keys.js';
import { RUN_JOB_NAME, RUN_JOB_OPTIONS, createAncestorLookup, runJobSchema, type RunJobData } from './run-job.js';

/** What one {@link reconcileQueue} pass did. */
export interface ReconcileReport {
  /** Open runs (announced, not ended) that had no job: queued again, so a worker ends them as `recover` says. */
  reopened: string[];
  /** Runs of pending children that had no job: queued again, so they run. */
  requeued: string[];
}

/** Dependencies of {@link reconcileQueue}. */
export interface ReconcileDeps {
  store: PostgresSessionStore;
  log: PostgresEventLog;
  redis: Redis;
  queue: Queue;
  keys: RedisKeys;
  /** Pending children younger than this (ms, by `updated_at`) are left alone: their spawn may still be queueing them. */
  minAgeMs: number;
  /** Now, ms since the epoch. */
  now(): number;
  /**
   * The deployment's `maxDepth`: at most this many running runs above a job's parent go in the
   * job's `ancestors` (as the front door puts them), so the run's stream reaches the root's.
   */
  maxDepth: number;
  /** Gets a failed read of a job's ancestors (the job is then put back without them). */
  onError(error: unknown): void;
  /**
   * How long an expired slot lease stays counted against its parent's limit (the workers'
   * `slotGraceMs`): the slot an open run gets back lasts that long unless its closer frees it.
   */
  slotGraceMs: number;
  /** Whether the run is still open in PostgreSQL now (asked again before a completed job of an open run is replaced). */
  stillOpen(runId: string): Promise<boolean>;
}

/** Pending children read per page. */
const PAGE = 500;

/**
 * Brings the queue (Redis) back in line with PostgreSQL after Redis lost data (a restart without
 * persistence, a failover that dropped writes): PostgreSQL is the truth.
 *
 * - A run open in the ledger (`open_runs`) whose job is gone: its live key and job are put back
 *   (same run id), so the next worker that takes it finds it open and ends it as its `recover`
 *   option says — exactly once, under that worker's fencing token. Its per-parent slot is put
 *   back too, before any pending child of the pass (an expired lease, still counted for
 *   `slotGraceMs`): a run open in PostgreSQL keeps counting against its parent's limit until the
 *   worker that closes it frees the slot, whatever Redis lost.
 * - While the slots-intact mark (`slotsIntact`) is missing — a new deployment, or Redis lost its
 *   data — workers admit no run. The pass gives every open run its slot back, then sets the mark.
 * - A child stored `pending` with a run id whose job is gone (and older than `minAgeMs`, so a
 *   spawn in flight is never raced): its live key and job are put back, and it runs.
 *
 * Each job put back carries the running runs above its parent (`ancestors`, read from PostgreSQL
 * by the front door's own lookup, {@link createAncestorLookup}), so a grandchild's stream still
 * reaches every ancestor's, wherever their runs run.
 *
 * A job that failed for good, or whose data is not a run (Redis kept its hash only in part), counts
 * as gone: it is removed and added again.
 *
 * Re-adding a job that exists is a no-op (job id = run id), and the live key is only set when
 * absent, so passes from several workers at once do nothing twice.
 *
 * @example
 * const { reopened, requeued } = await reconcileQueue({
 *   store, log, redis, queue, keys, minAgeMs: 60_000, now: Date.now, maxDepth: 4, onError: console.error, slotGraceMs: 180_000,
 * });
 */
export async function reconcileQueue(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { reopened: [], requeued: [] };
  const ancestorsUnder = createAncestorLookup({
    load: (id) => loadValidSession(deps.store, id),
    maxLinks: deps.maxDepth,
    onError: (error) => deps.onError(error),
  });
  /** The job with the running runs above its parent (none under a root, or for a root's own run). */
  const withAncestors = async (data: RunJobData): Promise<RunJobData> => {
    if (data.parentSessionId === '') return data;
    const ancestors = await ancestorsUnder(data.parentSessionId);
    return ancestors.length === 0 ? data : { ...data, ancestors };
  };
  // Slots not known to be intact (a new deployment, or Redis lost its data): every open run gets its
  // slot back before any run is admitted again, and the mark that lets admission go on is set.
  const intact = (await deps.redis.exists(deps.keys.slotsIntact)) === 1;
  const open = await deps.log.openRuns();
  const openIds = new Set(open.map((run) => run.runId));
  const hold = (run: OpenRun) => holdSlot(deps.redis, deps.keys, run.parentSessionId, run.runId, deps.now(), deps.slotGraceMs);
  if (!intact) {
    for (const run of open) await hold(run);
    await deps.redis.set(deps.keys.slotsIntact, new Date(deps.now()).toISOString());
    // Runs announced while the first list was read (admitted before the mark went) hold theirs too.
    for (const run of await deps.log.openRuns()) if (!openIds.has(run.runId)) await hold(run);
  }
  for (const run of open) {
    if (await hasJob(deps, run.runId, true)) continue;
    if (intact) await hold(run);
    const data = await jobOfOpenRun(deps, run);
    if (data !== undefined && (await restore(deps, await withAncestors(data)))) report.reopened.push(run.runId);
  }
  if (deps.store.listSummaries === undefined) return report;
  let cursor: string | undefined;
  do {
    const page = await deps.store.listSummaries({
      kind: 'child',
      status: 'pending',
      limit: PAGE,
      ...(cursor === undefined ? {} : { cursor }),
    });
    for (const child of page.items) {
      const runId = child.last_run_id ?? child.metadata.last_run_id;
      const parentSessionId = child.parent_session_id;
      if (runId === undefined || parentSessionId === undefined || openIds.has(runId)) continue;
      if (deps.now() - Date.parse(child.updated_at) < deps.minAgeMs) continue;
      if (await hasJob(deps, runId)) continue;
      const data: RunJobData = {
        runId,
        parentSessionId,
        childSessionId: child.id,
        model: child.model,
        title: child.title,
        maxDepth: deps.maxDepth,
      };
      if (await restore(deps, await withAncestors(data))) report.requeued.push(runId);
    }
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return report;
}

/**
 * Whether the run has a job that can still run it. A job that failed for good, or whose data is
 * not a run (a job hash Redis kept only in part), cannot: it is taken out (when it is not locked
 * by a worker) so that the run is put back. So is the completed job of a run still open
 * (`openRun`, asked again in PostgreSQL after the job was read, as a run's completion is durable
 * before its job completes): nothing would ever close that run.
 */
async function hasJob(deps: ReconcileDeps, runId: string, openRun = false): Promise<boolean> {
  const job = await deps.queue.getJob(runId);
  if (job === undefined) return false;
  const state = await job.getState();
  const broken =
    !runJobSchema.safeParse(job.data).success || state === 'failed' || (openRun && state === 'completed' && (await deps.stillOpen(runId)));
  if (!broken) return true;
  try {
    await job.remove();
    return false;
  } catch {
    // Locked by a worker right now: that worker's processor decides; the next pass looks again.
    return true;
  }
}

async function jobOfOpenRun(deps: ReconcileDeps, run: OpenRun): Promise<RunJobData | undefined> {
  const child = await deps.store.load(run.childSessionId).catch(() => undefined);
  return {
    runId: run.runId,
    parentSessionId: run.parentSessionId,
    childSessionId: run.childSessionId,
    model: child?.model ?? 'unknown',
    ...(run.title === undefined ? {} : { title: run.title }),
  };
}

/** Puts the run's live key (when the child has none) and its job back; false when the child's live key names another run. */
async function restore(deps: ReconcileDeps, data: RunJobData): Promise<boolean> {
  const live = deps.keys.live(data.childSessionId);
  await deps.redis.set(live, data.runId, 'NX');
  if ((await deps.redis.get(live)) !== data.runId) return false;
  await deps.queue.add(RUN_JOB_NAME, data, { ...RUN_JOB_OPTIONS, jobId: data.runId });
  return true;
}
