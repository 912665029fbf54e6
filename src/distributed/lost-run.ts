import type { SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import { isTerminal } from '../../machines/run-status.js';
import { METADATA_KEYS, runStatusMetadataSchema, type Session } from '../../machines/session.schema.js';
import { finalAnswerOf } from '../../machines/spawn-job.machine.js';
import type { RunFence, SessionStore } from '../api/ports.js';
import { toRfc3339, type SproutClock } from '../clock.js';
import { EventLogError, StoreUnavailableError } from '../errors.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import { loadValidSession, persistRun } from '../core/persist-run.js';
import { QueueUnavailableError } from './errors.js';
import type { RunJobData } from './run-job.js';

/**
 * The error text of a run whose worker was lost (killed, crashed, cut off from Redis longer than
 * its lease) or could not record the run's end (PostgreSQL away) before the run ended.
 */
export const WORKER_LOST_ERROR = 'child session run was interrupted before it ended (its worker was lost or could not record its end)';

/** Failures of a service (Redis, PostgreSQL) rather than of the run: worth trying again later. */
export function isServiceError(error: unknown): boolean {
  return error instanceof StoreUnavailableError || error instanceof QueueUnavailableError || error instanceof EventLogError;
}

/** The run's end as the child's stored metadata records it, when the metadata is about that run and final. */
export function storedEnd(session: Session | undefined, runId: string): SubSessionCompletedEvent['status'] | undefined {
  if (!session || session.metadata[METADATA_KEYS.runId] !== runId) return undefined;
  const status = runStatusMetadataSchema.safeParse(session.metadata[METADATA_KEYS.status]);
  return status.success && isTerminal(status.data) ? status.data : undefined;
}

/** What {@link closeLostRun} did. */
export interface LostRunEnd {
  /** The status the completion carried. */
  status: SubSessionCompletedEvent['status'];
  /** True when the run was ended as interrupted (not from an outcome it had saved). */
  interrupted: boolean;
  /** The child as it was loaded (undefined when missing or unreadable). */
  session: Session | undefined;
}

/**
 * Ends, exactly once, a run that is open in the durable run ledger but whose worker is gone: when
 * the child's metadata already records this run's end (the worker died between its final save
 * and its completion), that outcome is published; otherwise the child is saved as `error`
 * (`WORKER_LOST_ERROR`) and `sub_session_completed { status: 'error', reason: 'interrupted' }`
 * is published. Every write carries `fence`, the closer's own token of the run: a closer whose
 * claim is stale (another worker took the run after it) writes nothing and rejects with
 * `RunFencedError`. Service failures (PostgreSQL away) reject, so the caller tries again later.
 *
 * @example
 * const { status, interrupted } = await closeLostRun({ store, log, clock, report }, job, fence);
 */
export async function closeLostRun(
  deps: { store: SessionStore; log: PostgresEventLog; clock: SproutClock; report(error: unknown): void },
  run: RunJobData,
  fence: RunFence,
): Promise<LostRunEnd> {
  let session: Session | undefined;
  try {
    session = await loadValidSession(deps.store, run.childSessionId);
  } catch (error) {
    if (isServiceError(error)) throw error;
    // An unreadable child still gets its run closed.
    deps.report(error);
  }
  const base = {
    type: 'sub_session_completed' as const,
    parent_session_id: run.parentSessionId,
    child_session_id: run.childSessionId,
    run_id: run.runId,
  };
  const saved = storedEnd(session, run.runId);
  if (saved !== undefined && session) {
    const event: SubSessionCompletedEvent = { ...base, status: saved };
    const error = session.metadata[METADATA_KEYS.error];
    if (error !== undefined) event.error = error;
    const answer = saved === 'completed' ? finalAnswerOf(session) : undefined;
    if (answer !== undefined) event.result = answer;
    await deps.log.append(run.parentSessionId, event, { fence });
    return { status: saved, interrupted: false, session };
  }
  if (session) {
    const store: SessionStore = {
      load: (id) => deps.store.load(id),
      save: (saved) => deps.store.save(saved, { fence }),
      delete: (id) => deps.store.delete(id),
      listChildren: (id) => deps.store.listChildren(id),
    };
    await persistRun(store, { session, runId: run.runId, status: 'error', error: WORKER_LOST_ERROR }, () => true, deps.clock);
  }
  await deps.log.append(run.parentSessionId, { ...base, status: 'error', error: WORKER_LOST_ERROR, reason: 'interrupted' }, { fence });
  return { status: 'error', interrupted: true, session };
}

/**
 * Ends, exactly once, a root's own run whose worker is gone (a root's run has no parent, so it
 * is not in the open-run ledger): the root is saved as `error` (`WORKER_LOST_ERROR`) and its own
 * stream gets one terminal `error` event, as embedded recovery does — both in ONE statement
 * (`PostgresSessionStore.saveAndAppend`), so a failure leaves neither: the next delivery, finding
 * the root still running, closes it again, and a root saved as ended always has its terminal
 * event. Every write carries `fence`: a closer whose claim is stale writes nothing and rejects
 * with `RunFencedError`.
 *
 * @example
 * await closeLostRootRun({ store, log, clock }, root, job, fence);
 */
export async function closeLostRootRun(
  deps: { store: PostgresSessionStore; log: PostgresEventLog; clock: SproutClock },
  root: Session,
  run: RunJobData,
  fence: RunFence,
): Promise<void> {
  const store: SessionStore = {
    load: (id) => deps.store.load(id),
    save: async (saved) => {
      await deps.store.saveAndAppend(saved, fence, deps.log, root.id, { type: 'error', message: WORKER_LOST_ERROR });
    },
    delete: (id) => deps.store.delete(id),
    listChildren: (id) => deps.store.listChildren(id),
  };
  await persistRun(store, { session: root, runId: run.runId, status: 'error', error: WORKER_LOST_ERROR }, () => true, deps.clock);
}

/**
 * `recover: 'requeue'`, before the derived run is queued in Redis: the child is saved `pending`
 * under the run id it will run again with (as `spawnChild` plans a child's run), fenced by the
 * closer's token of the lost run. So the requeue is durable: when Redis loses the queued job, the
 * reconciler finds the child pending and puts its run back. The lost run's end stays on the
 * parent's stream (`error`, reason `interrupted`). A child that is gone is left alone.
 *
 * @example
 * await planRequeue({ store, clock }, job.childSessionId, requeuedRunId(job.runId), fence);
 */
export async function planRequeue(
  deps: { store: SessionStore; clock: SproutClock },
  childSessionId: string,
  nextRunId: string,
  fence: RunFence,
): Promise<void> {
  const child = await loadValidSession(deps.store, childSessionId);
  if (!child || child.metadata[METADATA_KEYS.runId] === nextRunId) return;
  child.metadata[METADATA_KEYS.status] = 'pending';
  child.metadata[METADATA_KEYS.runId] = nextRunId;
  delete child.metadata[METADATA_KEYS.error];
  child.updated_at = toRfc3339(deps.clock.now());
  await deps.store.save(child, { fence });
}
