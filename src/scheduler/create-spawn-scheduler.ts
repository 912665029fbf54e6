import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { createActor, type InspectionEvent } from 'xstate';
import { findRunOfChild } from '../../machines/scheduler.plan.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SchedulerInput } from '../../machines/scheduler.events.js';
import { METADATA_KEYS, type Session } from '../../machines/session.schema.js';
import { spawnBriefSchema, spawnJobSchema, type SpawnJob } from '../../machines/spawn-job.events.js';
import { toRfc3339, toSproutClock } from '../clock.js';
import {
  SchedulerStoppedError,
  SessionNotFoundError,
  SpawnDepthExceededError,
  SproutValidationError,
  UnknownChildError,
  EventLogError,
} from '../errors.js';
import type { EventLog } from '../streams/event-log.js';
import { GuardedObservable } from '../streams/guarded-observable.js';
import { MemoryEventLog } from '../streams/memory-event-log.js';
import { SqliteEventLog } from '../streams/sqlite-event-log.js';
import type { SessionStore } from '../stores/session-store.js';
import { SqliteSessionStore } from '../stores/sqlite-session-store.js';
import { SessionEventHub } from '../streams/session-event-hub.js';
import { buildChildSession } from './build-child-session.js';
import { createJobLogic } from './create-job-logic.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { loadValidSession } from './persist-run.js';
import { recoverInterruptedRuns, type RecoveryReport } from './recover-interrupted-runs.js';
import { type RunBook } from './run-completion.js';
import { endCrashedRun } from './end-crashed-run.js';
import { createRunRegistry, getRun, isLive } from './run-registry.js';
import type { RunTracker } from './run-tracker.js';
import { parseSchedulerOptions, type SpawnSchedulerOptions } from './scheduler-options.js';
import { cancelArgsSchema, eventsArgsSchema, parseArgs, sessionIdSchema, stopArgsSchema, waitArgsSchema } from './scheduler-args.js';
import { childStatusFromRecord, childSummaryFromSession, type ChildStatus } from './child-status.js';
import { findDescendantsInFlight } from './find-descendants.js';
import { waitForRuns, type ChildRunSummary } from './wait-for-children.js';
import type { EnqueueResult, SpawnScheduler } from './spawn-scheduler.js';

export type { EnqueueResult, SpawnScheduler, WaitForChildrenOptions } from './spawn-scheduler.js';

/**
 * The event log to use: the given one; a durable {@link SqliteEventLog} in the same file when the
 * store is a {@link SqliteSessionStore} (so replay and `seq` survive a restart); else memory.
 */
function defaultEventLog(
  given: EventLog | undefined,
  store: SessionStore,
  retention: number,
  report: (diagnostic: SchedulerDiagnostic) => void,
): EventLog {
  if (given) return given;
  if (store instanceof SqliteSessionStore) {
    return new SqliteEventLog(store, { retention, onError: (error) => report({ kind: 'event_log_error', error }) });
  }
  return new MemoryEventLog({ retention });
}

/** An inspection observer that can throw without disturbing any run (its errors are reported). */
function guardedInspect(
  inspect: unknown,
  report: (diagnostic: SchedulerDiagnostic) => void,
): ((event: InspectionEvent) => void) | undefined {
  if (inspect === undefined || inspect === null) return undefined;
  let next: ((event: InspectionEvent) => void) | undefined;
  if (typeof inspect === 'function') next = (event) => void (inspect as (event: InspectionEvent) => unknown)(event);
  else if (typeof inspect === 'object' && typeof (inspect as { next?: unknown }).next === 'function') {
    const observer = inspect as { next(event: InspectionEvent): unknown };
    next = (event) => void observer.next(event);
  }
  if (!next) return undefined;
  return (event) => {
    try {
      next(event);
    } catch (error) {
      report({ kind: 'inspector_error', error });
    }
  };
}

/**
 * Creates a spawn scheduler: an XState scheduler actor that spawns one job actor per child run,
 * with the child's events streamed to the parent as RxJS Observables. Nothing runs until
 * `start()`.
 *
 * @example
 * const scheduler = createSpawnScheduler({ store: new MemorySessionStore(), agent: scriptedAgent({ script: [{ tokens: 'hi' }] }) });
 * await scheduler.start();
 * scheduler.events('root').subscribe(({ event }) => console.log(event.type));
 * const { childSessionId } = await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find X' });
 * console.log(await scheduler.waitForChildren('root'));
 */
export function createSpawnScheduler(options: SpawnSchedulerOptions): SpawnScheduler {
  const opts = parseSchedulerOptions(options);
  const clock = toSproutClock(opts.clock);
  const createId = opts.createId ?? randomUUID;
  const diagnosticsSubject = new Subject<SchedulerDiagnostic>();
  // A throwing diagnostics subscriber is swallowed: there is nowhere left to report it.
  const diagnostics$ = new GuardedObservable<SchedulerDiagnostic>(
    (subscriber) => diagnosticsSubject.subscribe(subscriber),
    () => {},
  );
  const report = (diagnostic: SchedulerDiagnostic): void => {
    try {
      opts.onDiagnostic?.(diagnostic);
    } catch {
      // A failing diagnostic hook must not break the scheduler; the diagnostic still goes out below.
    }
    diagnosticsSubject.next(diagnostic);
  };
  const hub = new SessionEventHub(
    defaultEventLog(opts.eventLog, opts.store, opts.eventRetention, report),
    (error) => report({ kind: 'subscriber_error', error }),
    (error) => report({ kind: 'event_log_error', error }),
  );
  const registry = createRunRegistry({ retainEnded: opts.retainEndedRuns });
  const book: RunBook = {
    hub,
    registry,
    clock,
    trackers: new Map<string, RunTracker>(),
    completed: new Set<string>(),
    ended$: new Subject(),
  };
  const jobLogic = createJobLogic({
    ...book,
    store: opts.store,
    agent: opts.agent,
    tools: opts.tools,
    mirrorChildEvents: opts.mirrorChildEvents,
    report,
  });
  const pending = new Map<string, { resolve: (result: EnqueueResult) => void; reject: (error: Error) => void }>();
  /** Runs whose `sub_session_started` could not be written: their enqueue rejects with this. */
  const unannounced = new Map<string, EventLogError>();
  /** Completions of crashed jobs still being written (`stop()` waits for them). */
  const crashEnds = new Set<Promise<void>>();

  const logic = schedulerMachine.provide({
    actors: { spawnJob: jobLogic },
    actions: {
      publishStarted: ({ self }, { run }) => {
        registry.trigger.queued({
          record: {
            runId: run.runId,
            childSessionId: run.job.childSessionId,
            parentSessionId: run.job.parentSessionId,
            title: run.title,
            status: 'queued',
            enqueuedAt: clock.now(),
            eventsSeen: 0,
          },
        });
        const published = hub.publish(run.job.parentSessionId, {
          type: 'sub_session_started',
          parent_session_id: run.job.parentSessionId,
          child_session_id: run.job.childSessionId,
          ...(run.title === undefined ? {} : { title: run.title }),
          run_id: run.runId,
        });
        if (published !== undefined) return;
        // Never announced: the run is dropped (no completion either) and its enqueue rejects.
        registry.trigger.ended({
          childSessionId: run.job.childSessionId,
          runId: run.runId,
          status: 'cancelled',
          eventsSeen: 0,
          at: clock.now(),
          error: 'never announced',
        });
        unannounced.set(run.runId, new EventLogError(`could not publish sub_session_started for run ${run.runId}`));
        self.send({ type: 'scheduler.discard', runIds: [run.runId] });
      },
      resolveEnqueue: (_, { requestId, runId, deduplicated }) => {
        const waiter = pending.get(requestId);
        pending.delete(requestId);
        const failure = unannounced.get(runId);
        if (failure && !deduplicated) {
          unannounced.delete(runId);
          waiter?.reject(failure);
          return;
        }
        waiter?.resolve(deduplicated ? { runId, deduplicated: true } : { runId });
      },
      rejectEnqueue: (_, { requestId }) => {
        const waiter = pending.get(requestId);
        pending.delete(requestId);
        waiter?.reject(new SchedulerStoppedError());
      },
      jobEnded: (_, { runId }) => {
        book.completed.delete(runId);
        book.trackers.get(runId)?.close();
      },
      jobCrashed: (_, { runId, parentSessionId, childSessionId, error }) => {
        report({ kind: 'job_crashed', runId, childSessionId, error });
        const ending = endCrashedRun(book, opts.store, { parentSessionId, childSessionId, model: '' }, runId, error, report);
        crashEnds.add(ending);
        void ending.finally(() => crashEnds.delete(ending));
      },
    },
  });

  const input: SchedulerInput = {
    concurrency: opts.concurrency,
    perParentConcurrency: opts.perParentConcurrency,
    queueCapacity: opts.queueCapacity,
    jobLimits: {
      heartbeatIntervalMs: opts.heartbeatIntervalMs,
      maxRunMs: opts.maxRunMs,
      idleTimeoutMs: opts.idleTimeoutMs,
      cancelGraceMs: opts.cancelGraceMs,
    },
  };
  const inspect = guardedInspect(opts.inspect, report);
  const actor = createActor(logic, { input, clock, ...(inspect === undefined ? {} : { inspect }) });

  let phase: 'created' | 'running' | 'stopped' = 'created';
  let ready: Promise<RecoveryReport> = Promise.resolve({ interrupted: [], requeued: [], completed: [], failed: [] });
  let stopped: Promise<void> | undefined;

  const assertRunning = (): void => {
    if (phase === 'created') throw new SchedulerStoppedError('spawn scheduler is not running: call start() first');
    if (phase !== 'running' || actor.getSnapshot().status !== 'active' || actor.getSnapshot().value !== 'accepting') {
      throw new SchedulerStoppedError();
    }
  };

  const enqueueInternal = async (job: SpawnJob, title?: string, runId: string = createId()): Promise<EnqueueResult> => {
    assertRunning();
    return new Promise<EnqueueResult>((resolve, reject) => {
      const requestId = createId();
      pending.set(requestId, { resolve, reject });
      actor.send({ type: 'scheduler.enqueue', requestId, runId, job, title });
    });
  };

  /** True while the child has a queued, waiting or running run (registry first: it is set before publish). */
  const hasRun = (childSessionId: string): boolean =>
    isLive(getRun(registry, childSessionId)) || findRunOfChild(actor.getSnapshot().context, childSessionId) !== undefined;

  /**
   * A child's status from the store. A stored `pending` / `running` that this scheduler has no run
   * for is stale (the run ended before it could write metadata, e.g. a load failure, and its
   * record was evicted): the last completion of that child on its parent's retained stream says
   * how it really ended.
   */
  const storedStatus = (session: Session): ChildStatus => {
    const summary = childSummaryFromSession(session);
    if ((summary.status !== 'queued' && summary.status !== 'running') || !session.parent_session_id || hasRun(session.id)) return summary;
    const { envelopes } = hub.log.read(session.parent_session_id, 0);
    for (let i = envelopes.length - 1; i >= 0; i--) {
      const event = envelopes[i]?.event;
      if (event?.type !== 'sub_session_completed' || event.child_session_id !== session.id) continue;
      const ended: ChildStatus = { ...summary, runId: event.run_id, status: event.status };
      delete ended.error;
      delete ended.result;
      if (event.error !== undefined) ended.error = event.error;
      if (event.reason !== undefined) ended.reason = event.reason;
      if (event.result !== undefined) ended.result = event.result;
      return ended;
    }
    return summary;
  };

  /** Ends, without their store call, the jobs of a cancelling stop that still wait on one. */
  const abandonWaitingJobs = (): void => {
    if (actor.getSnapshot().status !== 'active') return;
    for (const job of Object.values(actor.getSnapshot().children)) {
      if (job && job.getSnapshot().status === 'active') job.send({ type: 'job.abandon' });
    }
  };

  const descendantsInFlight = async (sessionId: string): Promise<Set<string>> => {
    const found = await findDescendantsInFlight(actor.getSnapshot().context, opts.store, sessionId);
    // Runs announced in this very turn (e.g. from a subscriber of sub_session_started) are in the
    // registry before the scheduler's context.
    for (const record of registry.getSnapshot().context.runs.values()) {
      if (isLive(record) && record.parentSessionId === sessionId) found.add(record.childSessionId);
    }
    return found;
  };

  const scheduler: SpawnScheduler = {
    actor,
    logic,
    input,
    diagnostics$,

    start() {
      if (phase === 'stopped')
        return Promise.reject(new SchedulerStoppedError('spawn scheduler was stopped and cannot be started again: create a new one'));
      if (phase !== 'created') return ready;
      phase = 'running';
      actor.start();
      ready = recoverInterruptedRuns({
        store: opts.store,
        mode: opts.recover,
        isLive: (childSessionId) => isLive(getRun(registry, childSessionId)),
        clock,
        hub,
        report,
        requeue: (job, title) => enqueueInternal(job, title),
      }).catch((error: unknown) => {
        report({ kind: 'recovery_failed', childSessionId: '*', error });
        return { interrupted: [], requeued: [], completed: [], failed: [] };
      });
      return ready;
    },

    async stop(stopOptions) {
      const mode = parseArgs(stopArgsSchema, stopOptions, 'stop() options')?.mode ?? 'drain';
      if (phase === 'created') {
        phase = 'stopped';
        return;
      }
      if (stopped && mode === 'drain') return stopped;
      phase = 'stopped';
      stopped = new Promise<void>((resolve) => {
        const finish = () => {
          // A crashed job's completion is written after its actor ended: wait for it too.
          void Promise.allSettled([...crashEnds]).then(() => resolve());
        };
        const done = () => actor.getSnapshot().status !== 'active';
        if (done()) return finish();
        const subscription = actor.subscribe({
          next: () => {
            if (done()) {
              subscription.unsubscribe();
              finish();
            }
          },
          error: () => finish(),
          complete: () => finish(),
        });
        actor.send({ type: 'scheduler.stop', mode });
        // Shutdown does not wait out the cancel grace: once the event loop has run every store
        // call that answers at once (memory, SQLite), a job still waiting on its store is ended
        // without it. This is an event-loop turn, not a time budget.
        if (mode === 'cancel') setImmediate(abandonWaitingJobs);
      });
      return stopped;
    },

    async enqueue(job) {
      const parsed = parseArgs(spawnJobSchema, job, 'spawn job');
      assertRunning();
      await ready;
      return enqueueInternal(parsed);
    },

    async spawnChild(parentSessionId, brief) {
      const parsedBrief = parseArgs(spawnBriefSchema, brief, 'spawn brief');
      parseArgs(sessionIdSchema, parentSessionId, 'parent session id');
      assertRunning();
      await ready;
      const parent = await loadValidSession(opts.store, parentSessionId);
      if (!parent) throw new SessionNotFoundError(parentSessionId, 'parent session');
      const depth = parent.spawn_depth + 1;
      if (depth > opts.maxDepth) throw new SpawnDepthExceededError(depth, opts.maxDepth);
      assertRunning();
      const child = buildChildSession({ id: createId(), parent, brief: parsedBrief, now: toRfc3339(clock.now()), newMessageId: createId });
      // The run id is known before the child is saved, so a crash while it is queued can still
      // be reported under the same run id that `sub_session_started` carried.
      const plannedRunId = createId();
      child.metadata[METADATA_KEYS.runId] = plannedRunId;
      await opts.store.save(child);
      try {
        const { runId } = await enqueueInternal(
          { parentSessionId, childSessionId: child.id, model: child.model },
          child.title,
          plannedRunId,
        );
        return { childSessionId: child.id, runId };
      } catch (error) {
        // Refused after the save (stopped meanwhile, or the start could not be published):
        // nothing of this child may stay behind as `pending`.
        try {
          await opts.store.delete(child.id);
        } catch (deleteError) {
          report({ kind: 'recovery_failed', childSessionId: child.id, error: deleteError });
        }
        throw error;
      }
    },

    events(sessionId, eventOptions) {
      const { options: parsedOptions } = parseArgs(eventsArgsSchema, { sessionId, options: eventOptions }, 'events() arguments');
      const afterSeq = parsedOptions?.afterSeq;
      if (afterSeq !== undefined && afterSeq > 0) {
        const lastSeq = hub.lastSeq(sessionId);
        if (afterSeq > lastSeq) {
          throw new SproutValidationError('events() arguments', [
            {
              code: 'custom',
              path: ['options', 'afterSeq'],
              message: `afterSeq ${afterSeq} is past the end of the stream (last seq ${lastSeq})`,
              input: afterSeq,
            },
          ]);
        }
      }
      return hub.events$(sessionId, afterSeq === undefined ? {} : { afterSeq });
    },

    // eslint-disable-next-line @typescript-eslint/require-await -- async so that bad arguments reject
    async cancel(childSessionId, reason = 'user') {
      const parsed = parseArgs(cancelArgsSchema, { childSessionId, reason }, 'cancel() arguments');
      if (!hasRun(parsed.childSessionId)) return false;
      actor.send({ type: 'scheduler.cancel', childSessionIds: [parsed.childSessionId], reason: parsed.reason });
      return true;
    },

    async cancelTree(sessionId) {
      const id = parseArgs(sessionIdSchema, sessionId, 'cancelTree() session id');
      const targets = await descendantsInFlight(id);
      if (targets.size > 0) actor.send({ type: 'scheduler.cancel', childSessionIds: [...targets], reason: 'parent' });
      return targets.size;
    },

    async deleteSession(sessionId) {
      const id = parseArgs(sessionIdSchema, sessionId, 'deleteSession() session id');
      const targets = await descendantsInFlight(id);
      const own = hasRun(id) ? getRun(registry, id)?.runId : undefined;
      if (hasRun(id)) targets.add(id);
      if (targets.size > 0) actor.send({ type: 'scheduler.cancel', childSessionIds: [...targets], reason: 'deleted' });
      if (hasRun(id) || own !== undefined) await waitForRuns(book, [id], 'all', new Map());
      return opts.store.delete(id);
    },

    async getChild(childSessionId) {
      const id = parseArgs(sessionIdSchema, childSessionId, 'getChild() child session id');
      const record = getRun(registry, id);
      if (record) return childStatusFromRecord(record, book.trackers.get(record.runId));
      const session = await loadValidSession(opts.store, id);
      return session ? storedStatus(session) : undefined;
    },

    async waitForChildren(parentSessionId, waitOptions) {
      const parsed = parseArgs(waitArgsSchema, { parentSessionId, options: waitOptions }, 'waitForChildren() arguments');
      const policy = parsed.options?.policy ?? 'all';
      let ids = parsed.options?.childSessionIds;
      if (!ids) {
        ids = [...registry.getSnapshot().context.runs.values()]
          .filter((record) => record.parentSessionId === parsed.parentSessionId && isLive(record))
          .map((record) => record.childSessionId);
      }
      const fixed = new Map<string, ChildRunSummary>();
      for (const id of ids) {
        if (getRun(registry, id)) continue;
        const session = await loadValidSession(opts.store, id);
        if (!session) throw new UnknownChildError(id);
        const { childSessionId, runId, status, error, result } = storedStatus(session);
        fixed.set(id, {
          childSessionId,
          runId,
          status,
          ...(error === undefined ? {} : { error }),
          ...(result === undefined ? {} : { result }),
        });
      }
      return waitForRuns(book, ids, policy, fixed);
    },
  };
  return scheduler;
}
