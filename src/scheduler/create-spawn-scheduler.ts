import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { z } from 'zod';
import { createActor, type InspectionEvent, type Observer } from 'xstate';
import { completionReasonSchema } from '../../machines/agent-event.events.js';
import { findRunOfChild } from '../../machines/scheduler.plan.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SchedulerInput } from '../../machines/scheduler.events.js';
import { METADATA_KEYS } from '../../machines/session.schema.js';
import { spawnBriefSchema, spawnJobSchema, type SpawnJob } from '../../machines/spawn-job.events.js';
import { toRfc3339, toSproutClock } from '../clock.js';
import { SchedulerStoppedError, SessionNotFoundError, SpawnDepthExceededError, SproutValidationError, UnknownChildError } from '../errors.js';
import type { EventLog } from '../streams/event-log.js';
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
import { childStatusFromRecord, childSummaryFromSession } from './child-status.js';
import { findDescendantsInFlight } from './find-descendants.js';
import { waitOnRegistry, type ChildRunSummary } from './wait-for-children.js';
import type { EnqueueResult, SpawnScheduler } from './spawn-scheduler.js';

export type { EnqueueResult, SpawnScheduler, WaitForChildrenOptions } from './spawn-scheduler.js';

const eventsOptionsSchema = z.object({ sessionId: z.string().min(1), afterSeq: z.number().int().min(0).optional() });
const cancelArgsSchema = z.object({ childSessionId: z.string().min(1), reason: completionReasonSchema });
const waitArgsSchema = z.strictObject({
  parentSessionId: z.string().min(1),
  policy: z.enum(['all', 'any', 'first-error']).optional(),
  childSessionIds: z.array(z.string().min(1)).optional(),
});

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
  const diagnostics$ = new Subject<SchedulerDiagnostic>();
  const report = (diagnostic: SchedulerDiagnostic): void => {
    try {
      opts.onDiagnostic?.(diagnostic);
    } catch {
      // A failing diagnostic hook must not break the scheduler; the diagnostic still goes out below.
    }
    diagnostics$.next(diagnostic);
  };
  const hub = new SessionEventHub(defaultEventLog(opts.eventLog, opts.store, opts.eventRetention, report), (error) =>
    report({ kind: 'subscriber_error', error }),
  );
  const registry = createRunRegistry({ retainEnded: opts.retainEndedRuns });
  const book: RunBook = { hub, registry, clock, trackers: new Map<string, RunTracker>(), completed: new Set<string>() };
  const jobLogic = createJobLogic({ ...book, store: opts.store, agent: opts.agent, tools: opts.tools, mirrorChildEvents: opts.mirrorChildEvents, report });
  const pending = new Map<string, { resolve: (result: EnqueueResult) => void; reject: (error: Error) => void }>();

  const logic = schedulerMachine.provide({
    actors: { spawnJob: jobLogic },
    actions: {
      publishStarted: (_, { run }) => {
        registry.trigger.queued({
          record: { runId: run.runId, childSessionId: run.job.childSessionId, parentSessionId: run.job.parentSessionId, title: run.title, status: 'queued', enqueuedAt: clock.now(), eventsSeen: 0 },
        });
        hub.publish(run.job.parentSessionId, {
          type: 'sub_session_started',
          parent_session_id: run.job.parentSessionId,
          child_session_id: run.job.childSessionId,
          ...(run.title === undefined ? {} : { title: run.title }),
          run_id: run.runId,
        });
      },
      resolveEnqueue: (_, { requestId, runId, deduplicated }) => {
        const waiter = pending.get(requestId);
        pending.delete(requestId);
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
        void endCrashedRun(book, opts.store, { parentSessionId, childSessionId, model: '' }, runId, error, report);
      },
    },
  });

  const input: SchedulerInput = {
    concurrency: opts.concurrency,
    perParentConcurrency: opts.perParentConcurrency,
    queueCapacity: opts.queueCapacity,
    jobLimits: { heartbeatIntervalMs: opts.heartbeatIntervalMs, maxRunMs: opts.maxRunMs, idleTimeoutMs: opts.idleTimeoutMs },
  };
  const actor = createActor(logic, {
    input,
    clock,
    ...(opts.inspect === undefined ? {} : { inspect: opts.inspect as Observer<InspectionEvent> | ((event: InspectionEvent) => void) }),
  });

  let phase: 'created' | 'running' | 'stopped' = 'created';
  let ready: Promise<RecoveryReport> = Promise.resolve({ interrupted: [], requeued: [], failed: [] });
  let stopped: Promise<void> | undefined;

  const assertRunning = (): void => {
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

  const descendantsInFlight = (sessionId: string): Promise<Set<string>> => findDescendantsInFlight(actor.getSnapshot().context, opts.store, sessionId);

  const scheduler: SpawnScheduler = {
    actor,
    logic,
    input,
    diagnostics$: diagnostics$.asObservable(),

    start() {
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
      });
      return ready;
    },

    stop({ mode = 'drain' } = {}) {
      if (phase === 'created') {
        phase = 'stopped';
        return Promise.resolve();
      }
      if (stopped && mode === 'drain') return stopped;
      phase = 'stopped';
      stopped = new Promise<void>((resolve) => {
        const done = () => actor.getSnapshot().status !== 'active';
        if (done()) return resolve();
        const subscription = actor.subscribe({
          next: () => {
            if (done()) {
              subscription.unsubscribe();
              resolve();
            }
          },
          error: () => resolve(),
          complete: () => resolve(),
        });
        actor.send({ type: 'scheduler.stop', mode });
      });
      return stopped;
    },

    async enqueue(job) {
      const parsed = spawnJobSchema.safeParse(job);
      if (!parsed.success) throw new SproutValidationError('spawn job', parsed.error.issues);
      assertRunning();
      await ready;
      return enqueueInternal(parsed.data);
    },

    async spawnChild(parentSessionId, brief) {
      const parsedBrief = spawnBriefSchema.safeParse(brief);
      if (!parsedBrief.success) throw new SproutValidationError('spawn brief', parsedBrief.error.issues);
      if (typeof parentSessionId !== 'string' || parentSessionId.length === 0) {
        throw new SproutValidationError('parent session id', [{ code: 'custom', path: [], message: 'must be a non-empty string', input: parentSessionId }]);
      }
      assertRunning();
      await ready;
      const parent = await loadValidSession(opts.store, parentSessionId);
      if (!parent) throw new SessionNotFoundError(parentSessionId, 'parent session');
      const depth = parent.spawn_depth + 1;
      if (depth > opts.maxDepth) throw new SpawnDepthExceededError(depth, opts.maxDepth);
      const child = buildChildSession({ id: createId(), parent, brief: parsedBrief.data, now: toRfc3339(clock.now()), newMessageId: createId });
      // The run id is known before the child is saved, so a crash while it is queued can still
      // be reported under the same run id that `sub_session_started` carried.
      const plannedRunId = createId();
      child.metadata[METADATA_KEYS.runId] = plannedRunId;
      await opts.store.save(child);
      const { runId } = await enqueueInternal({ parentSessionId, childSessionId: child.id, model: child.model }, child.title, plannedRunId);
      return { childSessionId: child.id, runId };
    },

    events(sessionId, eventOptions = {}) {
      const parsed = eventsOptionsSchema.safeParse({ sessionId, afterSeq: eventOptions.afterSeq });
      if (!parsed.success) throw new SproutValidationError('events() arguments', parsed.error.issues);
      return hub.events$(sessionId, eventOptions);
    },

    cancel(childSessionId, reason = 'user') {
      const parsed = cancelArgsSchema.safeParse({ childSessionId, reason });
      if (!parsed.success) return Promise.reject(new SproutValidationError('cancel() arguments', parsed.error.issues));
      const context = actor.getSnapshot().context;
      if (findRunOfChild(context, childSessionId) === undefined) return Promise.resolve(false);
      actor.send({ type: 'scheduler.cancel', childSessionIds: [childSessionId], reason });
      return Promise.resolve(true);
    },

    async cancelTree(sessionId) {
      const targets = await descendantsInFlight(sessionId);
      if (targets.size > 0) actor.send({ type: 'scheduler.cancel', childSessionIds: [...targets], reason: 'parent' });
      return targets.size;
    },

    async deleteSession(sessionId) {
      const targets = await descendantsInFlight(sessionId);
      if (findRunOfChild(actor.getSnapshot().context, sessionId) !== undefined) targets.add(sessionId);
      if (targets.size > 0) actor.send({ type: 'scheduler.cancel', childSessionIds: [...targets], reason: 'deleted' });
      if (targets.has(sessionId)) await waitOnRegistry(registry, [sessionId], 'all', new Map());
      return opts.store.delete(sessionId);
    },

    async getChild(childSessionId) {
      const record = getRun(registry, childSessionId);
      if (record) return childStatusFromRecord(record, book.trackers.get(record.runId));
      const session = await loadValidSession(opts.store, childSessionId);
      return session ? childSummaryFromSession(session) : undefined;
    },

    async waitForChildren(parentSessionId, waitOptions = {}) {
      const parsed = waitArgsSchema.safeParse({ parentSessionId, ...waitOptions });
      if (!parsed.success) throw new SproutValidationError('waitForChildren() arguments', parsed.error.issues);
      const policy = waitOptions.policy ?? 'all';
      let ids = waitOptions.childSessionIds;
      if (!ids) {
        ids = [...registry.getSnapshot().context.runs.values()]
          .filter((record) => record.parentSessionId === parentSessionId && isLive(record))
          .map((record) => record.childSessionId);
      }
      const fixed = new Map<string, ChildRunSummary>();
      for (const id of ids) {
        if (getRun(registry, id)) continue;
        const session = await loadValidSession(opts.store, id);
        if (!session) throw new UnknownChildError(id);
        const summary = childSummaryFromSession(session);
        fixed.set(id, summary);
      }
      return waitOnRegistry(registry, ids, policy, fixed);
    },
  };
  return scheduler;
}
