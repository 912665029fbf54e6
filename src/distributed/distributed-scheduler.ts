import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { defer, from, retry, switchMap, tap, throwError, timer, type Observable } from 'rxjs';
import { z } from 'zod';
import type { CompletionReason, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { isTerminal } from '../../machines/run-status.js';
import { METADATA_KEYS } from '../../machines/session.schema.js';
import type { SpawnBrief, SpawnJob } from '../../machines/spawn-job.events.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import type {
  AncestorLink,
  ChildRunSummary,
  ChildStatus,
  EnqueueOptions,
  EnqueueResult,
  EventsOptions,
  SpawnChildResult,
  WaitForChildrenOptions,
} from '../api/scheduler-types.js';
import type { RunInput, SpawnSchedulerApi } from '../api/spawn-scheduler.js';
import { systemClock } from '../clock.js';
import { SchedulerStoppedError, SessionNotFoundError, SproutValidationError, UnknownChildError } from '../errors.js';
import { DEFAULT_ON_PARENT_END } from '../core/on-parent-end.js';
import { childSummaryFromSession } from '../core/child-summary.js';
import { loadValidSession } from '../core/persist-run.js';
import { policyHolds } from '../core/wait-policy.js';
import { createSchedulerApi, type SchedulerDeployment, type WaitPolicy } from '../core/scheduler-api.js';
import { closeRedis, openPostgres, openRedis, probeRedis, type PostgresConnection, type RedisConnection } from './connections.js';
import { createDiagnostics, type DistributedDiagnostic } from './diagnostics.js';
import { QueueFullError, queueUnavailable } from './errors.js';
import { checkDependencies, type DependencyChecks } from './dependency-health.js';
import { FrontDoorScripts } from './front-door-scripts.js';
import { RUN_QUEUE_NAME, redisKeys, validatePrefix } from './keys.js';
import { isServiceError, storedEnd } from './lost-run.js';
import { RedisScripts } from './redis-scripts.js';
import { RedisRunOwnership } from './redis-run-ownership.js';
import { PostgresRunFences } from '../adapters/postgres/postgres-run-fences.js';
import { RUN_JOB_NAME, RUN_JOB_OPTIONS, createAncestorLookup, type RunJobData } from './run-job.js';
import { activeTraceparent } from '../telemetry/traceparent.js';
import { deleteTree } from './tree-delete.js';
import { createTreeCanceller, DEFAULT_CANCEL_TREE_HOLD_MS } from './tree-canceller.js';
import { listWorkers, type WorkersInfo } from './workers-info.js';
import { childAnnounced } from '../core/child-announced.js';

/** The front door takes no run: the lease of its run-ownership port is never used. */
const FRONT_DOOR_LEASE_MS = 30_000;

const frontDoorOptionsSchema = z.object({
  prefix: z.string().default('sprout'),
  concurrency: z.number().int().min(1).optional(),
  queueCapacity: z.number().int().min(1).max(10_000_000).optional(),
  maxDepth: z.number().int().min(0).default(4),
  eventRetention: z.number().int().min(0).default(1000),
  cancelTreeHoldMs: z.number().int().min(1).default(DEFAULT_CANCEL_TREE_HOLD_MS),
});

/**
 * Options of {@link createDistributedScheduler}.
 *
 * @example
 * const options: DistributedSchedulerOptions = { redis: 'redis://127.0.0.1:6379', postgres: 'postgres://localhost/app', prefix: 'sprout' };
 */
export interface DistributedSchedulerOptions {
  /** Redis: the run queue, leases, cancel flags. A URL or ioredis options. */
  redis: RedisConnection;
  /** PostgreSQL: sessions, events, the run ledger. A URL or the adapters' connection options. */
  postgres: PostgresConnection;
  /** The deployment: Redis key prefix, BullMQ queue prefix and PostgreSQL schema (same rules as a schema name). @default 'sprout' */
  prefix?: string | undefined;
  /** When set, `start()` sets the queue's global concurrency: runs active at once across every worker. */
  concurrency?: number | undefined;
  /**
   * Bounds the queue: at most this many runs queued and not yet taken by a worker, across every
   * front door of the deployment (counted atomically in Redis). Beyond it `enqueue` / `spawnChild`
   * reject with `QueueFullError` (code `QUEUE_FULL`; the HTTP API answers 429 with `Retry-After`)
   * and keep nothing. `sprout serve` sets 128, the embedded scheduler's default. @default unbounded
   */
  queueCapacity?: number | undefined;
  /** Deepest child `spawnChild` creates (a root session is depth 0). @default 4 */
  maxDepth?: number | undefined;
  /** Events kept per session by the log (what `events({ afterSeq })` can replay). @default 1000 */
  eventRetention?: number | undefined;
  /**
   * After `cancelTree`, for this long, a run whose parent is in the cancelled tree ends
   * `cancelled` (reason `parent`) when a worker takes it: a grandchild a cancelled child spawned
   * as it was being cancelled cannot slip past. @default 600000 (10 minutes)
   */
  cancelTreeHoldMs?: number | undefined;
  /** Id generator for runs and spawned children. @default crypto.randomUUID */
  createId?: (() => string) | undefined;
  /** Gets every diagnostic (also on `diagnostics$`). */
  onDiagnostic?: ((diagnostic: DistributedDiagnostic) => void) | undefined;
}

/**
 * The front door of distributed mode: the {@link SpawnSchedulerApi} (the methods both deployments
 * serve; `run` and `spawnChild` are the embedded scheduler's own code, `src/core/`) over Redis
 * (BullMQ run queue, the run-ownership port's live runs) and PostgreSQL (sessions, events, run
 * ledger). It runs nothing itself: `sprout worker` processes ({@link createWorker}) take the runs.
 *
 * Differences from embedded mode:
 * - `enqueue` / `spawnChild` resolve once the run is in the queue. Its `sub_session_started` is
 *   published by the worker that takes it (so a run is announced once, by the process that runs it).
 * - `events()` streams what any worker appends (PostgreSQL `LISTEN`/`NOTIFY`).
 * - `stop()` closes this front door's connections; the workers and their runs carry on.
 */
export interface DistributedScheduler extends SpawnSchedulerApi {
  /** The deployment prefix (Redis prefix, queue prefix, PostgreSQL schema). */
  readonly prefix: string;
  /** The PostgreSQL session store of the deployment. */
  readonly store: PostgresSessionStore;
  /** The PostgreSQL event log of the deployment (`live()`, `read()`, `openRuns()`). */
  readonly eventLog: PostgresEventLog;
  /** Diagnostics: services that went away (they reconnect). */
  readonly diagnostics$: Observable<DistributedDiagnostic>;
  /** Whether Redis and PostgreSQL answer now (each checked within two seconds; never rejects): what `/v1/health` reports. */
  checkHealth(): Promise<DependencyChecks>;
  /**
   * Connects and migrates the schema if needed. Rejects with `StoreUnavailableError` /
   * `QueueUnavailableError` when PostgreSQL / Redis cannot be reached now (later outages are
   * reconnected).
   */
  start(): Promise<void>;
  /** Closes this front door's connections. Queued and running runs carry on in the workers. */
  stop(): Promise<void>;
  /**
   * Appends a user message to any session (root or child) and queues a run of its agent on the
   * workers, as the embedded scheduler's `run` does: a root's run has no parent (no per-parent
   * limit; its events and its one terminal `complete` / `error` go to its own stream), a child's
   * is announced on its parent's stream. Rejects with `SessionBusyError` while the session has a
   * queued or running run (nothing is appended), `SessionNotFoundError` for an unknown session.
   */
  run(sessionId: string, input: RunInput): Promise<{ runId: string }>;
  /**
   * Queues a run of an existing child: `{ runId }`, or `{ runId, deduplicated: true }` when the
   * child already has a queued or running run. The options are the embedded scheduler's: a run id,
   * a title, `root: true` for a root's own run, and `ancestors` (else the front door looks up the
   * running runs above the parent itself).
   */
  enqueue(job: SpawnJob, options?: EnqueueOptions): Promise<EnqueueResult>;
  /** Creates a child session from a brief (saved in PostgreSQL) and queues its run. */
  spawnChild(parentSessionId: string, brief: SpawnBrief): Promise<SpawnChildResult>;
  /** The session's stream as any process appends it; with `afterSeq`, the retained events after it first. */
  events(sessionId: string, options?: EventsOptions): Observable<SessionEventEnvelope>;
  /** Cancels the child's queued or running run, wherever it runs. `true` when it had one. */
  cancel(childSessionId: string, reason?: CompletionReason): Promise<boolean>;
  /** Cancels every queued or running descendant of the session (reason `parent`); resolves with how many runs. */
  cancelTree(sessionId: string): Promise<number>;
  /**
   * Deletes the session **and every session below it** (a tree delete), atomically against
   * concurrent spawns: once it started, `spawnChild` / `enqueue` under any session of the tree
   * reject with `SessionNotFoundError`; runs of the tree no worker took yet are taken out of the
   * queue (never started), the others are cancelled (reason `deleted`) and awaited; then the
   * sessions and their streams are deleted, deepest first. Resolves with whether the session existed.
   */
  deleteSession(sessionId: string): Promise<boolean>;
  /** The child's latest run, from PostgreSQL (metadata) and Redis (its live run). */
  getChild(childSessionId: string): Promise<ChildStatus | undefined>;
  /** Resolves once the policy holds for those children (default: the parent's children with a queued or running run). */
  waitForChildren(parentSessionId: string, options?: WaitForChildrenOptions): Promise<ChildRunSummary[]>;
  /**
   * The deployment's live workers (BullMQ's named worker connections) and the runs each holds
   * (its owner keys, with the ms left on each lease), read from Redis: what `GET /v1/workers`
   * and the dashboard's workers view show.
   *
   * @example
   * const { workers } = await scheduler.workers();
   * for (const w of workers) console.log(w.name, w.runs.length);
   */
  workers(): Promise<WorkersInfo>;
}

/**
 * Creates the front door of distributed mode (see {@link DistributedScheduler}).
 *
 * @example
 * const scheduler = createDistributedScheduler({ redis: 'redis://127.0.0.1:6379', postgres: process.env.DATABASE_URL!, prefix: 'sprout' });
 * await scheduler.start();
 * scheduler.events('root', { afterSeq: 0 }).subscribe(({ seq, event }) => console.log(seq, event.type));
 * const { childSessionId } = await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find X' });
 * console.log(await scheduler.waitForChildren('root', { childSessionIds: [childSessionId] }));
 */
export function createDistributedScheduler(options: DistributedSchedulerOptions): DistributedScheduler {
  const parsed = frontDoorOptionsSchema.safeParse({ ...options, redis: undefined, postgres: undefined });
  if (!parsed.success) throw new SproutValidationError('distributed scheduler options', parsed.error.issues);
  const opts = parsed.data;
  const prefix = validatePrefix(opts.prefix);
  const createId = options.createId ?? randomUUID;
  const keys = redisKeys(prefix);
  const { diagnostics$, report, complete } = createDiagnostics(options.onDiagnostic);
  const serviceError = (error: unknown): void => report({ kind: 'service_error', error });
  const { store, log } = openPostgres(options.postgres, prefix, opts.eventRetention, serviceError);
  /** A stream that failed because a service went away subscribes again after a growing delay (reported); other errors end it. */
  const retryServiceError = (error: unknown, count: number): Observable<number> => {
    if (!isServiceError(error) || phase === 'stopped') return throwError(() => error);
    serviceError(error);
    return timer(Math.min(5000, 100 * 2 ** Math.min(count, 6)));
  };

  let phase: 'created' | 'running' | 'stopped' = 'created';
  let redis: ReturnType<typeof openRedis> | undefined;
  let queueRedis: ReturnType<typeof openRedis> | undefined;
  let scripts: RedisScripts | undefined;
  /** The run-ownership port (the front door reads live runs through it). */
  let ownership: RedisRunOwnership | undefined;
  let frontDoor: FrontDoorScripts | undefined;
  let queue: Queue | undefined;
  let stopped: Promise<void> | undefined;
  const capacity = opts.queueCapacity ?? 0;

  const running = (): {
    redis: NonNullable<typeof redis>;
    scripts: RedisScripts;
    frontDoor: FrontDoorScripts;
    queue: Queue;
    ownership: RedisRunOwnership;
  } => {
    if (phase === 'created') throw new SchedulerStoppedError('spawn scheduler is not running: call start() first');
    if (phase !== 'running' || !redis || !scripts || !frontDoor || !queue || !ownership) throw new SchedulerStoppedError();
    return { redis, scripts, frontDoor, queue, ownership };
  };

  /** Runs a Redis call, turning its failure into `QueueUnavailableError`. */
  const onRedis = async <T>(what: string, call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (error) {
      throw queueUnavailable(error, what);
    }
  };

  /** The child's live run, read through the run-ownership port. */
  const liveRunOf = (childSessionId: string): Promise<string | undefined> =>
    onRedis(`reading the live run of ${childSessionId}`, () => running().ownership.liveRun(childSessionId));
  /** Sessions between `run`'s busy check and their enqueue (as in the embedded scheduler). */
  const starting = new Map<string, string>();

  /** The running runs above a new run's parent, for its job (so its stream reaches the root's wherever they run). */
  const ancestorsUnder = createAncestorLookup({
    load: (id) => loadValidSession(store, id),
    maxLinks: opts.maxDepth,
    onError: serviceError,
  });

  /**
   * Admits the run (one script: not in a tree being deleted, de-duplicated, room in the bounded
   * queue; sets the child's live run), then adds its job.
   */
  const enqueueRun = async (
    job: SpawnJob,
    title: string | undefined,
    runId: string,
    ancestors: readonly AncestorLink[] = [],
  ): Promise<EnqueueResult> => {
    const { scripts: s, frontDoor: f, queue: q } = running();
    const { parentSessionId, childSessionId } = job;
    const admission = await onRedis(`queueing run ${runId}`, () => f.admit({ parentSessionId, childSessionId, runId, capacity }));
    if (admission.kind === 'live') return { runId: admission.runId, deduplicated: true };
    if (admission.kind === 'gone') {
      // A root's own run has no parent: the root itself is in the tree being deleted.
      const gone = parentSessionId === '' ? childSessionId : parentSessionId;
      throw new SessionNotFoundError(
        gone,
        parentSessionId === '' ? 'session (in a tree being deleted)' : 'parent session (in a tree being deleted)',
      );
    }
    if (admission.kind === 'full') throw new QueueFullError(capacity);
    if (admission.kind === 'used') {
      throw new SproutValidationError('enqueue options', [
        {
          code: 'custom',
          path: ['runId'],
          message: `run id ${runId} was already used (run ids are unique across the deployment)`,
          input: runId,
        },
      ]);
    }
    const traceparent = activeTraceparent();
    const data: RunJobData = {
      runId,
      ...job,
      maxDepth: opts.maxDepth,
      ...(title === undefined ? {} : { title }),
      ...(traceparent === undefined ? {} : { traceparent }),
      ...(ancestors.length === 0 ? {} : { ancestors: [...ancestors] }),
    };
    try {
      await q.add(RUN_JOB_NAME, data, { ...RUN_JOB_OPTIONS, jobId: runId });
    } catch (error) {
      await s.deleteIf(keys.live(childSessionId), runId).catch(serviceError);
      await f.forget(runId).catch(serviceError);
      throw queueUnavailable(error, `queueing run ${runId}`);
    }
    return { runId };
  };

  const canceller = createTreeCanceller({
    redis: () => running().redis,
    queue: () => running().queue,
    store,
    keys,
    holdMs: opts.cancelTreeHoldMs,
    onRedis,
  });

  /** A summary from the stored child, for the run `runId` (queued / running until its end is stored). */
  const summaryOf = (session: Parameters<typeof childSummaryFromSession>[0], runId: string): ChildStatus => {
    const stored = childSummaryFromSession(session);
    if (stored.runId === runId && storedEnd(session, runId) !== undefined) return stored;
    const status = stored.runId === runId && session.metadata[METADATA_KEYS.status] === 'running' ? 'running' : 'queued';
    const summary: ChildStatus = { ...stored, runId, status };
    delete summary.error;
    delete summary.result;
    return summary;
  };

  /** The session's stream as any process appends it (PostgreSQL `LISTEN`/`NOTIFY`), resuming after a service outage. */
  const stream = (sessionId: string, afterSeq: number | undefined): Observable<SessionEventEnvelope> => {
    return defer(() => {
      // Per subscriber: the last seq delivered, so a stream that lost PostgreSQL resumes after it (no gap, no repeat).
      let cursor: number | undefined;
      const attempt$ = defer(() => {
        if (cursor !== undefined) return log.live(sessionId, { afterSeq: cursor });
        return from(log.read(sessionId, Number.MAX_SAFE_INTEGER)).pipe(
          switchMap(({ lastSeq }) => {
            if (afterSeq !== undefined && afterSeq > lastSeq) {
              throw new SproutValidationError('events() arguments', [
                {
                  code: 'custom',
                  path: ['options', 'afterSeq'],
                  message: `afterSeq ${afterSeq} is past the end of the stream (last seq ${lastSeq})`,
                  input: afterSeq,
                },
              ]);
            }
            cursor = afterSeq ?? lastSeq;
            return log.live(sessionId, { afterSeq: cursor });
          }),
        );
      });
      return attempt$.pipe(
        tap((envelope) => (cursor = envelope.seq)),
        retry({ delay: (error: unknown, count) => retryServiceError(error, count), resetOnSuccess: true }),
      );
    });
  };

  /** Waits on the parent's stream (completions already published are replayed), from the children's stored runs and live runs. */
  const waitFor = async (
    parentSessionId: string,
    policy: WaitPolicy,
    childSessionIds: readonly string[] | undefined,
  ): Promise<ChildRunSummary[]> => {
    const { redis: r } = running();
    const parent = parentSessionId;
    let ids: readonly string[] | undefined = childSessionIds;
    if (ids === undefined) {
      const children = await store.listChildren(parent);
      const lives = children.length === 0 ? [] : await onRedis('reading live runs', () => r.mget(children.map((c) => keys.live(c.id))));
      ids = children.filter((_, i) => lives[i] !== null).map((child) => child.id);
    }
    const summaries = new Map<string, ChildRunSummary>();
    const byRun = new Map<string, string>();
    for (const id of ids) {
      const session = await loadValidSession(store, id);
      if (!session) throw new UnknownChildError(id);
      const live = await liveRunOf(id);
      const { childSessionId, runId, status, error, result } = summaryOf(session, live ?? session.metadata[METADATA_KEYS.runId] ?? '');
      if (live !== undefined && isTerminal(status)) {
        // Its end is saved but the run is not closed yet (the child is saved before its
        // completion is written): the stream decides, so a caller that reads the stream after
        // this resolves finds the completion there.
        summaries.set(id, { childSessionId, runId, status: 'running' });
      } else {
        summaries.set(id, {
          childSessionId,
          runId,
          status,
          ...(error === undefined ? {} : { error }),
          ...(result === undefined ? {} : { result }),
        });
      }
      byRun.set(runId, id);
    }
    const current = (): ChildRunSummary[] => ids.map((id) => summaries.get(id)!);
    if (policyHolds(policy, current())) return current();
    // The parent's stream from its start: completions already published are replayed, later ones arrive live.
    return new Promise<ChildRunSummary[]>((resolve, reject) => {
      let cursor = 0;
      const subscription = defer(() => log.live(parent, { afterSeq: cursor }))
        .pipe(
          tap((envelope) => (cursor = envelope.seq)),
          retry({ delay: (error: unknown, count) => retryServiceError(error, count), resetOnSuccess: true }),
        )
        .subscribe({
          next: ({ event }) => {
            if (event.type !== 'sub_session_started' && event.type !== 'sub_session_completed') return;
            const id = byRun.get(event.run_id);
            const summary = id === undefined ? undefined : summaries.get(id);
            if (id === undefined || !summary) return;
            if (event.type === 'sub_session_started') {
              if (summary.status === 'queued') summaries.set(id, { ...summary, status: 'running' });
              return;
            }
            const ended: ChildRunSummary = { childSessionId: id, runId: event.run_id, status: event.status };
            if (event.error !== undefined) ended.error = event.error;
            if (event.result !== undefined) ended.result = event.result;
            summaries.set(id, ended);
            if (policyHolds(policy, current())) {
              queueMicrotask(() => subscription.unsubscribe());
              resolve(current());
            }
          },
          error: reject,
          complete: () => reject(new SchedulerStoppedError()),
        });
    });
  };

  /** The distributed deployment of the API: a BullMQ queue, Redis run ownership, PostgreSQL sessions and streams. */
  const deployment: SchedulerDeployment<AncestorLink[]> = {
    store,
    clock: systemClock,
    createId,
    maxDepth: opts.maxDepth,
    onParentEnd: DEFAULT_ON_PARENT_END,
    assertRunning: () => void running(),
    ready: () => Promise.resolve(),
    starting,
    liveRunId: liveRunOf,
    announced: (parentSessionId, childSessionId, plannedRunId) => childAnnounced(log, parentSessionId, childSessionId, plannedRunId),
    // Above a child whose parent is a root (depth 1) there is nothing to link: no read.
    lineage: (parentSessionId, { parent, child }) =>
      child !== undefined && child.spawn_depth <= 1 ? [] : ancestorsUnder(parentSessionId, parent),
    none: [],
    remember: () => undefined,
    queue: enqueueRun,
    queueLinked: async (job, title, runId, links) =>
      enqueueRun(job, title, runId, links.length > 0 ? links : await ancestorsUnder(job.parentSessionId)),
    admitSpawn: async (parentSessionId) => {
      if (capacity === 0) return;
      // No room (or the parent's tree is going): refused before anything is written.
      const { frontDoor: f } = running();
      const room = await onRedis('checking the queue', () => f.admit({ parentSessionId, childSessionId: '', runId: '', capacity }));
      if (room.kind === 'gone') throw new SessionNotFoundError(parentSessionId, 'session (in a tree being deleted)');
      if (room.kind === 'full') throw new QueueFullError(capacity);
    },
    stream,
    cancelRun: (childSessionId, reason) => canceller.cancelRun(childSessionId, reason),
    cancelSubtree: (sessionId) => canceller.cancelSubtree(sessionId, 'parent', true),
    deleteSession: (id) => {
      const { redis: r, scripts: s, frontDoor: f, queue: q } = running();
      return deleteTree({ store, log, redis: r, queue: q, scripts: s, frontDoor: f, keys, holdMs: opts.cancelTreeHoldMs, onRedis }, id);
    },
    childStatus: async (id) => {
      running();
      const session = await loadValidSession(store, id);
      if (!session) return undefined;
      const live = await liveRunOf(id);
      return summaryOf(session, live ?? session.metadata[METADATA_KEYS.runId] ?? '');
    },
    waitFor,
    report: (diagnostic) => serviceError('error' in diagnostic ? diagnostic.error : diagnostic),
  };
  const api = createSchedulerApi(deployment);

  const scheduler: DistributedScheduler = {
    prefix,
    store,
    eventLog: log,
    diagnostics$,

    checkHealth() {
      return checkDependencies(phase === 'running' ? redis : undefined, store.database);
    },

    async start() {
      if (phase === 'stopped') throw new SchedulerStoppedError('spawn scheduler was stopped and cannot be started again: create a new one');
      if (phase === 'running') return;
      await store.database.ready();
      await probeRedis(options.redis);
      redis = openRedis(options.redis, 'front door', serviceError, { blocking: false, pipelined: true });
      queueRedis = openRedis(options.redis, 'front door queue', serviceError, { blocking: false });
      scripts = new RedisScripts(redis, keys);
      ownership = new RedisRunOwnership({
        redis,
        scripts,
        keys,
        fences: new PostgresRunFences(store.database),
        leaseMs: FRONT_DOOR_LEASE_MS,
      });
      frontDoor = new FrontDoorScripts(redis, keys);
      queue = new Queue(RUN_QUEUE_NAME, { connection: queueRedis, prefix });
      queue.on('error', serviceError);
      try {
        await queue.waitUntilReady();
        if (opts.concurrency !== undefined) await queue.setGlobalConcurrency(opts.concurrency);
      } catch (error) {
        throw queueUnavailable(error, 'connecting the run queue');
      }
      phase = 'running';
    },

    stop() {
      stopped ??= (async () => {
        phase = 'stopped';
        await queue?.close().catch(serviceError);
        for (const connection of [queueRedis, redis]) if (connection) await closeRedis(connection);
        await log.close();
        await store.close();
        complete();
      })();
      return stopped;
    },

    async workers() {
      const { redis: r, queue: q } = running();
      return onRedis('listing the workers', () => listWorkers({ redis: r, queue: q, keys }));
    },

    ...api,
  };
  return scheduler;
}
