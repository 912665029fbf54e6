import { randomUUID } from 'node:crypto';
import { Subject } from 'rxjs';
import { createActor, type InspectionEvent } from 'xstate';
import type { LineageLink, SchedulerInput } from '../../machines/scheduler.events.js';
import { cancellableBelow, isCancellable } from '../../machines/scheduler.plan.js';
import type { Session } from '../../machines/session.schema.js';
import type { SpawnJob } from '../../machines/spawn-job.events.js';
import { toSproutClock } from '../clock.js';
import { SchedulerStoppedError } from '../errors.js';
import type { EventLog } from '../streams/event-log.js';
import { GuardedObservable } from '../streams/guarded-observable.js';
import type { SessionStore } from '../api/ports.js';
import { SessionEventHub } from '../streams/session-event-hub.js';
import { AncestorLinks, streamLinkResolver } from './ancestor-links.js';
import { createSchedulerApi, type SchedulerDeployment } from '../core/scheduler-api.js';
import { createJobLogic } from './create-job-logic.js';
import { EnqueueRequests } from './enqueue-requests.js';
import { provideSchedulerLogic } from './provide-scheduler-logic.js';
import { createSchedulerQueries } from './scheduler-queries.js';
import { sessionEvents } from './session-events.js';
import { stopSchedulerActor } from './stop-scheduler-actor.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { recoverInterruptedRuns } from './recover-interrupted-runs.js';
import { type RunBook } from './run-completion.js';
import { RunLedgers } from './run-ledgers.js';
import type { SpawnSchedulerOptions } from '../api/spawn-scheduler-options.js';
import { parseSchedulerOptions } from './scheduler-options.js';
import { parseArgs, stopArgsSchema } from '../core/scheduler-args.js';
import { isLive } from './run-ledger.js';
import { RunWaits } from './run-waits.js';
import { LineageCache, rememberLink, sessionLineage } from './session-lineage.js';
import { createSlotYielder } from './slot-yielder.js';
import { waitForRuns } from './wait-for-children.js';
import type { ChildRunSummary, EnqueueResult, RecoveryReport } from '../api/scheduler-types.js';
import type { SpawnScheduler } from '../api/spawn-scheduler.js';
import { childAnnounced } from '../core/child-announced.js';

/** What the composition root plugs in: the defaults that are adapters (the scheduler imports none). */
export interface SchedulerDefaults {
  /** The event log when neither the `eventLog` option nor the store's `openEventLog` gives one. */
  eventLog(retention: number): EventLog;
}

/**
 * The event log to use: the given one; else the store's own (`openEventLog`: a durable log in the
 * same database, so replay and `seq` survive a restart); else the default (memory).
 */
function chooseEventLog(
  given: EventLog | undefined,
  store: SessionStore,
  retention: number,
  defaults: SchedulerDefaults,
  report: (diagnostic: SchedulerDiagnostic) => void,
): EventLog {
  if (given) return given;
  const companion = store.openEventLog?.({ retention, onError: (error) => report({ kind: 'event_log_error', error }) });
  return companion ?? defaults.eventLog(retention);
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
 * Assembles a spawn scheduler from its parts (options, the event hub, the run ledgers, the
 * provided machines, the actor, the queries, the stop protocol). `createSpawnScheduler` (the
 * composition root) calls it with the default adapters.
 *
 * @example
 * const scheduler = assembleSpawnScheduler(options, { eventLog: (retention) => new MemoryEventLog({ retention }) });
 */
export function assembleSpawnScheduler(options: SpawnSchedulerOptions, defaults: SchedulerDefaults): SpawnScheduler {
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
    chooseEventLog(opts.eventLog, opts.store, opts.eventRetention, defaults, report),
    (error) => report({ kind: 'subscriber_error', error }),
    (error) => report({ kind: 'event_log_error', error }),
  );
  const ledgers = new RunLedgers({ now: () => clock.now(), retainEnded: opts.retainEndedRuns });
  /** The links above runs that `enqueue(job, { ancestors })` handed in, while those runs live. */
  const ancestors = new AncestorLinks(ledgers);
  // The seed's forwarder: a session's stream goes up to its parent's, wrapped, while the session's
  // run is live (and, for the events of one run, its terminal event included, under that run), so
  // nothing of a run follows its completion on any stream. A session whose run runs elsewhere (a
  // distributed worker's grandchild under a parent on another worker) goes up through the links
  // a run of ours was handed.
  hub.forwardWith(streamLinkResolver(ledgers, ancestors), opts.maxDepth);
  const book: RunBook = { hub, clock, ledgers };
  /** Completions of crashed jobs still being written (`stop()` waits for them). */
  const crashEnds = new Set<Promise<void>>();
  // The scheduler object is the agents' spawner (`ExecuteRequest.spawner`); it exists before any run.
  const spawner: { current?: SpawnScheduler } = {};
  const jobLogic = createJobLogic({
    crashEnds,
    ...book,
    store: opts.store,
    agent: opts.agent,
    tools: opts.tools,
    spawner: () => opts.spawner ?? spawner.current,
    report,
  });
  const requests = new EnqueueRequests();
  const waits = new RunWaits();
  const logic = provideSchedulerLogic({ book, store: opts.store, jobLogic, requests, waits, crashEnds, report });
  const lineageCache = new LineageCache();
  const lineageOf = (parentSessionId: string, parent?: Session): LineageLink[] =>
    sessionLineage({ ledgers, cache: lineageCache, maxHops: opts.maxDepth + 1 }, parentSessionId, parent);
  /** Sessions between `run`'s busy check and their enqueue. */
  const starting = new Map<string, string>();

  const input: SchedulerInput = {
    concurrency: opts.concurrency,
    perParentConcurrency: opts.perParentConcurrency,
    queueCapacity: opts.queueCapacity,
    rememberHalts: opts.rememberHalts,
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

  const enqueueInternal = async (
    job: SpawnJob,
    title?: string,
    runId: string = createId(),
    lineage?: LineageLink[],
  ): Promise<EnqueueResult> => {
    assertRunning();
    const requestId = createId();
    const answer = requests.wait(requestId);
    actor.send({ type: 'scheduler.enqueue', requestId, runId, job, title, lineage });
    // A running agent whose spawn waits for queue room gives its slot back meanwhile: the queued
    // runs it waits behind could otherwise never start (a tree at concurrency 1 would deadlock).
    if (ledgers.runOf(job.childSessionId)?.announced !== false) return answer;
    const caller = yielder.callingRun();
    return caller === undefined ? answer : yielder.yieldWhile(caller, [job.childSessionId], answer);
  };

  const yielder = createSlotYielder({ actor, ledgers, waits });

  /**
   * Waits for children. When the call comes from the waiting session's own running run (its
   * agent, its tools, or a scheduler its agent closed over), the run gives its slot back while it
   * waits and takes one again (ahead of queued runs) before this resolves; from outside the run,
   * it just waits (the run's agent keeps working, so it keeps its slot).
   */
  const waitYielding = (
    parentSessionId: string,
    policy: 'all' | 'any' | 'first-error',
    childSessionIds: readonly string[] | undefined,
  ): Promise<ChildRunSummary[]> => {
    const ids =
      childSessionIds ??
      [...ledgers.records()].filter((record) => record.parentSessionId === parentSessionId && isLive(record)).map((r) => r.childSessionId);
    let resumeEarly: (() => void) | undefined;
    const pending = queries.waitForChildren(parentSessionId, policy, ids, () => resumeEarly?.());
    const run = ids.length === 0 ? undefined : yielder.callingRun(parentSessionId);
    return run === undefined ? pending : yielder.yieldWhile(run, ids, pending, (resume) => (resumeEarly = resume));
  };

  const queries = createSchedulerQueries({ book, store: opts.store });
  const actorActive = (): boolean => phase === 'running' && actor.getSnapshot().status === 'active';
  const { hasRun } = queries;

  /** The embedded deployment of the API: the scheduler actor queues, cancels and waits; the hub streams. */
  const deployment: SchedulerDeployment<LineageLink[]> = {
    store: opts.store,
    clock,
    createId,
    maxDepth: opts.maxDepth,
    onParentEnd: opts.onParentEnd,
    assertRunning,
    ready: () => ready,
    starting,
    liveRunId: (id) => ledgers.liveRun(id)?.runId,
    announced: async (parentSessionId, childSessionId, plannedRunId) => {
      const known = ledgers.runOf(childSessionId)?.runId;
      return (
        (known !== undefined && known !== plannedRunId) || (await childAnnounced(hub.log, parentSessionId, childSessionId, plannedRunId))
      );
    },
    lineage: (parentSessionId, { parent }) => lineageOf(parentSessionId, parent),
    none: [],
    remember: (child) => rememberLink(lineageCache, child),
    queue: enqueueInternal,
    queueLinked: (job, title, runId, links) => {
      const lineage = lineageOf(job.parentSessionId);
      if (links.length === 0) return enqueueInternal(job, title, runId, lineage);
      return ancestors.enqueueWith(runId, links, () => enqueueInternal(job, title, runId, lineage));
    },
    stream: (sessionId, afterSeq) => sessionEvents(hub, sessionId, afterSeq),
    // eslint-disable-next-line @typescript-eslint/require-await -- async so that a stopped actor rejects, never throws
    cancelRun: async (childSessionId, reason) => {
      const below = actorActive() ? (actor.getSnapshot().context.subtree.get(childSessionId)?.size ?? 0) : 0;
      if (!hasRun(childSessionId) && below === 0) return false;
      // One event: the run is cancelled and the session halted, so its end reaches its subtree
      // in the same scheduler turn and nothing spawned under it afterwards runs.
      actor.send({ type: 'scheduler.cancel', childSessionIds: [childSessionId], reason });
      return true;
    },
    cancelSubtree: async (id) => {
      const targets = new Set<string>();
      if (actorActive()) {
        // Halted first, in one scheduler turn: every run in flight below it is cancelled at once.
        for (const child of cancellableBelow(actor.getSnapshot().context, id)) targets.add(child);
        actor.send({ type: 'scheduler.cancelTree', sessionId: id });
      }
      // Runs whose ancestry the scheduler could not know (an embedded copy's, a store-only tree).
      const found = await queries.descendantsInFlight(id);
      const extra = actorActive()
        ? [...found].filter((child) => !targets.has(child) && isCancellable(actor.getSnapshot().context, child))
        : [];
      if (extra.length > 0 && actorActive()) actor.send({ type: 'scheduler.cancel', childSessionIds: extra, reason: 'parent' });
      for (const child of extra) targets.add(child);
      return targets.size;
    },
    deleteSession: async (id) => {
      const targets = await queries.descendantsInFlight(id);
      const own = ledgers.liveRun(id)?.runId;
      if (own !== undefined) targets.add(id);
      if (targets.size > 0) actor.send({ type: 'scheduler.cancel', childSessionIds: [...targets], reason: 'deleted' });
      // Its own run, and its children's (they publish on its stream), end before the stream goes.
      const publishers = [...targets].filter((target) => target === id || ledgers.runOf(target)?.parentSessionId === id);
      if (publishers.length > 0) await waitForRuns(ledgers, publishers, 'all', new Map());
      const deleted = await opts.store.delete(id);
      lineageCache.delete(id);
      try {
        await hub.forgetSession(id);
      } catch (error) {
        report({ kind: 'event_log_error', error });
      }
      return deleted;
    },
    childStatus: (id) => queries.getChild(id),
    waitFor: waitYielding,
    report,
  };
  const api = createSchedulerApi(deployment);

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
        isLive: (childSessionId) => ledgers.liveRun(childSessionId) !== undefined,
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
      // Every job ended, then every event published was delivered (a batched log commits first).
      stopped = stopSchedulerActor(actor, mode, crashEnds).then(() => hub.drain());
      return stopped;
    },

    ...api,
  };
  spawner.current = scheduler;
  return scheduler;
}
