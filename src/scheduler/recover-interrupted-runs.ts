import { z } from 'zod';
import type { AgentEvent, SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import { completionStatusSchema, isTerminal } from '../../machines/run-status.js';
import { METADATA_KEYS, runStatusMetadataSchema, sessionSchema, type Session } from '../../machines/session.schema.js';
import { ROOT_PARENT, type SpawnJob } from '../../machines/spawn-job.events.js';
import { finalAnswerOf, hasPendingUserMessage } from '../../machines/spawn-job.machine.js';
import type { SproutClock } from '../clock.js';
import type { SessionStore } from '../api/ports.js';
import { isRunIndex } from '../api/run-index.js';
import type { OpenRun } from '../streams/event-log.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import type { RecoveryReport } from '../api/scheduler-types.js';
import { lastChildEvent } from './last-child-event.js';
import { loadValidSession, persistRun } from '../core/persist-run.js';

/** The error text of a run that a crash or restart interrupted. */
export const INTERRUPTED_ERROR = 'child session run was interrupted before it ended (scheduler restart)';

/** What recovery needs. */
export interface RecoveryDeps {
  store: SessionStore;
  mode: 'interrupt' | 'requeue';
  /** True while this process has a queued or running run of the child. */
  isLive(childSessionId: string): boolean;
  clock: SproutClock;
  hub: SessionEventHub;
  report(diagnostic: SchedulerDiagnostic): void;
  requeue(job: SpawnJob, title: string): Promise<unknown>;
}

const openRunSchema = z.object({
  runId: z.string().min(1),
  parentSessionId: z.string().min(1),
  childSessionId: z.string().min(1),
  title: z.string().optional(),
  startedSeq: z.number(),
});

type Started = Extract<AgentEvent, { type: 'sub_session_started' }>;
const isStarted = (event: AgentEvent): event is Started => event.type === 'sub_session_started';
const isCompleted = (event: AgentEvent): event is SubSessionCompletedEvent => event.type === 'sub_session_completed';

/**
 * The run id of the child's last `sub_session_started` still retained on the parent's stream
 * (used only with a log that keeps no ledger).
 */
async function lastStartedRunId(hub: SessionEventHub, parentSessionId: string, childSessionId: string): Promise<string | undefined> {
  return (await lastChildEvent(hub, parentSessionId, childSessionId, isStarted))?.run_id;
}

/**
 * The completion of a child's run (`runId`; else the child's last run, when it has ended) still
 * retained on the parent's stream: the parent already heard how that run ended.
 */
async function publishedCompletion(
  hub: SessionEventHub,
  parentSessionId: string,
  childSessionId: string,
  runId: string | undefined,
): Promise<SubSessionCompletedEvent | undefined> {
  if (runId !== undefined) {
    return lastChildEvent(hub, parentSessionId, childSessionId, (e): e is SubSessionCompletedEvent => isCompleted(e) && e.run_id === runId);
  }
  const last = await lastChildEvent(
    hub,
    parentSessionId,
    childSessionId,
    (e): e is Started | SubSessionCompletedEvent => isStarted(e) || isCompleted(e),
  );
  return last !== undefined && isCompleted(last) ? last : undefined;
}

/**
 * A child whose stored status is stale (`running` / `pending`) though its parent already got the
 * run's completion (the final save failed, or a stop ended it queued before its save landed): the
 * stored status is made to agree with the stream, and nothing is published or re-queued.
 */
async function reconcileWithStream(
  deps: RecoveryDeps,
  session: Session,
  parentSessionId: string,
  result: RecoveryReport,
): Promise<boolean> {
  const runId = session.metadata[METADATA_KEYS.runId];
  const completion =
    (await publishedCompletion(deps.hub, parentSessionId, session.id, runId)) ?? (await indexedEnd(deps.store, session.id, runId));
  if (completion === undefined) return false;
  await persistRun(
    deps.store,
    { session, runId: completion.run_id, status: completion.status, error: completion.error },
    () => !deps.isLive(session.id),
    deps.clock,
  );
  result.completed.push(session.id);
  return true;
}

/**
 * The end of run `runId` as a store's run index recorded it (SQLite and PostgreSQL: written with
 * the completion, in the same transaction), for a completion retention already pruned from the
 * parent's stream. `undefined` without an index, for a run it does not know or that has not ended.
 */
async function indexedEnd(
  store: SessionStore,
  childSessionId: string,
  runId: string | undefined,
): Promise<Pick<SubSessionCompletedEvent, 'run_id' | 'status' | 'error'> | undefined> {
  if (runId === undefined || !isRunIndex(store)) return undefined;
  const run = await store.getRun(runId);
  if (run === undefined || run.child_session_id !== childSessionId) return undefined;
  const status = completionStatusSchema.safeParse(run.status);
  if (!status.success) return undefined;
  return { run_id: runId, status: status.data, ...(run.error === undefined ? {} : { error: run.error }) };
}

/** Items of an array a port returned, each checked; bad ones are reported and left out. */
function validItems<T>(value: unknown, schema: z.ZodType<T>, what: string, report: RecoveryDeps['report']): T[] {
  if (!Array.isArray(value)) {
    report({
      kind: 'recovery_failed',
      childSessionId: '*',
      error: new TypeError(`${what} returned ${value === null ? 'null' : typeof value}, not an array`),
    });
    return [];
  }
  const items: T[] = [];
  for (const item of value as unknown[]) {
    const parsed = schema.safeParse(item);
    if (parsed.success) items.push(parsed.data);
    else
      report({
        kind: 'recovery_failed',
        childSessionId: '*',
        error: new TypeError(`${what} returned an invalid item: ${parsed.error.issues[0]?.message ?? 'invalid'}`),
      });
  }
  return items;
}

/**
 * Ends what a crash left open, exactly once each, and never throws (failures go to
 * `diagnostics$` and `failed`):
 *
 * 1. With a durable log that keeps a run ledger (`openRuns`), every run announced and not
 *    completed gets its one completion: the outcome the child saved for that run when the
 *    process died between the final save and the publish; else `error`, reason `interrupted`
 *    (saved on the child first), and with `recover: 'requeue'` the child then runs again under a
 *    new run id.
 * 2. Roots whose own run (one Sprout started: it has a `last_run_id`) a crash left `running` /
 *    `pending` (`listRootsByRunStatus`): saved as
 *    `error` (interrupted) with one terminal `error` on the root's own stream, or re-queued with
 *    `recover: 'requeue'` when their message is still pending.
 * 3. Children whose stored `last_run_status` is still `running` / `pending` with no open run:
 *    when the parent's retained stream has that run's completion (or, once retention pruned it,
 *    the store's run index records that run's end), the stored status is made to
 *    agree with it (reported in `completed`; nothing published, nothing re-queued); else, with a ledger, their
 *    metadata is corrected (`error`, interrupted) and nothing is published
 *    (the parent never heard of a run, or already got its completion) — or they are queued
 *    (`requeue`); without a ledger, they are ended and published as before (run id from the
 *    retained `sub_session_started` or the metadata).
 *
 * @example
 * const report = await recoverInterruptedRuns({ store, mode: 'interrupt', isLive: () => false, clock, hub, report: console.warn, requeue });
 */
export async function recoverInterruptedRuns(deps: RecoveryDeps): Promise<RecoveryReport> {
  const result: RecoveryReport = { interrupted: [], requeued: [], completed: [], failed: [] };
  const log = deps.hub.log;
  // Capabilities, not adapter classes, decide: a durable log that keeps the run ledger drives recovery.
  const ledger = log.capabilities.durable && log.capabilities.runLedger && typeof log.openRuns === 'function';
  const store = deps.store;
  const handled = new Set<string>();
  if (ledger) {
    let open: OpenRun[] = [];
    try {
      open = validItems(await Promise.resolve(log.openRuns?.call(log)), openRunSchema, 'EventLog.openRuns()', (d) => deps.report(d));
    } catch (error) {
      deps.report({ kind: 'recovery_failed', childSessionId: '*', error });
    }
    for (const run of open) {
      if (deps.isLive(run.childSessionId)) continue;
      handled.add(run.childSessionId);
      await closeOpenRun(deps, run, result);
    }
  }
  await recoverRootRuns(deps, handled, result);
  if (typeof store.listByRunStatus !== 'function') return result;
  let sessions: Session[] = [];
  try {
    sessions = validItems(await store.listByRunStatus(['running', 'pending']), sessionSchema, 'SessionStore.listByRunStatus()', (d) =>
      deps.report(d),
    );
  } catch (error) {
    deps.report({ kind: 'recovery_failed', childSessionId: '*', error });
    return result;
  }
  for (const session of sessions) {
    if (session.kind !== 'child' || !session.parent_session_id || handled.has(session.id) || deps.isLive(session.id)) continue;
    handled.add(session.id);
    const parentSessionId = session.parent_session_id;
    try {
      // The stream decides: a run whose completion the parent already got is not run again.
      if (await reconcileWithStream(deps, session, parentSessionId, result)) continue;
      if (deps.mode === 'requeue' && hasPendingUserMessage(session)) {
        await deps.requeue({ parentSessionId, childSessionId: session.id, model: session.model }, session.title);
        result.requeued.push(session.id);
        continue;
      }
      const runId =
        (ledger ? undefined : await lastStartedRunId(deps.hub, parentSessionId, session.id)) ??
        session.metadata[METADATA_KEYS.runId] ??
        `recovered-${session.id}`;
      await persistRun(
        deps.store,
        { session, runId, status: 'error', error: INTERRUPTED_ERROR },
        () => !deps.isLive(session.id),
        deps.clock,
      );
      // With a ledger, no open run means the parent has nothing to hear: it never heard of this
      // run, or it already got its completion (only the final save had failed).
      if (!ledger) await publishInterrupted(deps.hub, parentSessionId, session.id, runId);
      result.interrupted.push(session.id);
    } catch (error) {
      deps.report({ kind: 'recovery_failed', childSessionId: session.id, error });
      result.failed.push(session.id);
    }
  }
  return result;
}

/** Closes one run the ledger shows open: saved outcome, or interrupted (then maybe requeued). */
async function closeOpenRun(deps: RecoveryDeps, run: OpenRun, result: RecoveryReport): Promise<void> {
  let session: Session | undefined;
  try {
    session = await loadValidSession(deps.store, run.childSessionId);
  } catch (error) {
    deps.report({ kind: 'recovery_failed', childSessionId: run.childSessionId, error });
  }
  const storedStatus = runStatusMetadataSchema.safeParse(session?.metadata[METADATA_KEYS.status]);
  if (session && session.metadata[METADATA_KEYS.runId] === run.runId && storedStatus.success && isTerminal(storedStatus.data)) {
    const event: SubSessionCompletedEvent = {
      type: 'sub_session_completed',
      parent_session_id: run.parentSessionId,
      child_session_id: run.childSessionId,
      run_id: run.runId,
      status: storedStatus.data,
    };
    const error = session.metadata[METADATA_KEYS.error];
    if (error !== undefined) event.error = error;
    const answer = storedStatus.data === 'completed' ? finalAnswerOf(session) : undefined;
    if (answer !== undefined) event.result = answer;
    await deps.hub.publish(run.parentSessionId, event);
    result.completed.push(run.childSessionId);
    return;
  }
  let saved = session === undefined;
  if (session) {
    try {
      await persistRun(deps.store, { session, runId: run.runId, status: 'error', error: INTERRUPTED_ERROR }, () => true, deps.clock);
      saved = true;
    } catch (error) {
      deps.report({ kind: 'recovery_failed', childSessionId: run.childSessionId, error });
    }
  }
  // The run is closed even when its child could not be saved: exactly one completion per run.
  await publishInterrupted(deps.hub, run.parentSessionId, run.childSessionId, run.runId);
  if (!saved) {
    result.failed.push(run.childSessionId);
    return;
  }
  if (deps.mode === 'requeue' && session && hasPendingUserMessage(session)) {
    try {
      await deps.requeue({ parentSessionId: run.parentSessionId, childSessionId: run.childSessionId, model: session.model }, session.title);
      result.requeued.push(run.childSessionId);
    } catch (error) {
      deps.report({ kind: 'recovery_failed', childSessionId: run.childSessionId, error });
      result.failed.push(run.childSessionId);
    }
    return;
  }
  result.interrupted.push(run.childSessionId);
}

/** Roots whose own run a crash left `running` / `pending` (when the store can list them). */
async function recoverRootRuns(deps: RecoveryDeps, handled: Set<string>, result: RecoveryReport): Promise<void> {
  if (typeof deps.store.listRootsByRunStatus !== 'function') return;
  let roots: Session[] = [];
  try {
    roots = validItems(
      await deps.store.listRootsByRunStatus(['running', 'pending']),
      sessionSchema,
      'SessionStore.listRootsByRunStatus()',
      (d) => deps.report(d),
    );
  } catch (error) {
    deps.report({ kind: 'recovery_failed', childSessionId: '*', error });
    return;
  }
  for (const root of roots) {
    // Only a run Sprout started (`run` writes the run id); a root marked by someone else is theirs.
    if (root.kind !== 'root' || root.metadata[METADATA_KEYS.runId] === undefined || handled.has(root.id) || deps.isLive(root.id)) continue;
    handled.add(root.id);
    await recoverRootRun(deps, root, result);
  }
}

/**
 * A root's own run (`scheduler.run`) that a crash left `running` / `pending`: queued again with
 * `requeue` when its message is still pending, else saved as `error` and ended on the root's own
 * stream with one terminal `error` event.
 */
async function recoverRootRun(deps: RecoveryDeps, session: Session, result: RecoveryReport): Promise<void> {
  try {
    if (deps.mode === 'requeue' && hasPendingUserMessage(session)) {
      await deps.requeue({ parentSessionId: ROOT_PARENT, childSessionId: session.id, model: session.model }, session.title);
      result.requeued.push(session.id);
      return;
    }
    const runId = session.metadata[METADATA_KEYS.runId] ?? `recovered-${session.id}`;
    await persistRun(deps.store, { session, runId, status: 'error', error: INTERRUPTED_ERROR }, () => !deps.isLive(session.id), deps.clock);
    await deps.hub.publish(session.id, { type: 'error', message: INTERRUPTED_ERROR });
    result.interrupted.push(session.id);
  } catch (error) {
    deps.report({ kind: 'recovery_failed', childSessionId: session.id, error });
    result.failed.push(session.id);
  }
}

async function publishInterrupted(hub: SessionEventHub, parentSessionId: string, childSessionId: string, runId: string): Promise<void> {
  await hub.publish(parentSessionId, {
    type: 'sub_session_completed',
    parent_session_id: parentSessionId,
    child_session_id: childSessionId,
    run_id: runId,
    status: 'error',
    error: INTERRUPTED_ERROR,
    reason: 'interrupted',
  });
}
