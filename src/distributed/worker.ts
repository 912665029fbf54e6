import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DelayedError, Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { filter, firstValueFrom, type Observable } from 'rxjs';
import type { InspectionEvent, Observer } from 'xstate';
import { z } from 'zod';
import { completionReasonSchema, type CompletionReason, type CompletionStatus } from '../../machines/agent-event.events.js';
import { isTerminal } from '../../machines/run-status.js';
import { hasPendingUserMessage } from '../../machines/spawn-job.machine.js';
import type { AgentRuntime, RunFence, Spawner } from '../api/ports.js';
import type { ChildRunSummary } from '../api/scheduler-types.js';
import { systemClock, toSproutClock, type Clock } from '../clock.js';
import { createSpawnScheduler, type SpawnScheduler } from '../create-spawn-scheduler.js';
import { RunFencedError, SproutValidationError } from '../errors.js';
import { DEFAULT_IDLE_IN_TRANSACTION_MS, DEFAULT_LOCK_TIMEOUT_MS } from '../adapters/postgres/postgres-database.js';
import { PostgresRunFences } from '../adapters/postgres/postgres-run-fences.js';
import { loadValidSession } from '../core/persist-run.js';
import { closeRedis, openPostgres, openRedis, probeRedis, type PostgresConnection, type RedisConnection } from './connections.js';
import { createDistributedScheduler, type DistributedScheduler } from './distributed-scheduler.js';
import { createDiagnostics, type DistributedDiagnostic } from './diagnostics.js';
import { PreloadedSessions, workerEventLog, workerSessionStore } from './embedded-ports.js';
import { queueUnavailable } from './errors.js';
import { RUN_QUEUE_NAME, redisKeys, requeuedRunId, validatePrefix } from './keys.js';
import { closeLostRootRun, closeLostRun, isServiceError, planRequeue, storedEnd, WORKER_LOST_ERROR } from './lost-run.js';
import { RedisRunOwnership } from './redis-run-ownership.js';
import { WorkerSlots } from './worker-slots.js';
import { boundedStopSteps } from './bounded-stop.js';
import { holdSlot } from './hold-slot.js';
import { createTreeCanceller, DEFAULT_CANCEL_TREE_HOLD_MS } from './tree-canceller.js';
import { PostgresRunLedger } from '../adapters/postgres/postgres-run-ledger.js';
import { RedisScripts } from './redis-scripts.js';
import { reconcileQueue } from './reconcile-queue.js';
import { inRunSpan } from './run-span.js';
import { RUN_JOB_NAME, RUN_JOB_OPTIONS, runBackoffMs, runJobSchema, type RunJobData } from './run-job.js';

/** What a run's worker-side record says when its `sub_session_started` could not be written. */
const NEVER_ANNOUNCED = 'never announced';

/** BullMQ refused a move because this delivery no longer holds the job's lock ("Missing lock" / "Lock mismatch"). */
const isLockLost = (error: unknown): boolean => error instanceof Error && /\b(missing lock|lock mismatch)\b/i.test(error.message);
/** How soon a run refused while the per-parent slots are rebuilt (Redis lost its data) is tried again, ms. */
const REBUILD_RETRY_MS = 250;
/** How long the "a worker announced this run" marker lives (longer than any run is re-delivered). */
const TAKEN_TTL_MS = 7 * 24 * 3600 * 1000;

const positiveInt = z.number().int().min(1);

const workerOptionsSchema = z.object({
  prefix: z.string().default('sprout'),
  concurrency: positiveInt.max(10_000).default(4),
  globalConcurrency: positiveInt.optional(),
  perParentConcurrency: positiveInt.default(8),
  recover: z.enum(['interrupt', 'fail', 'requeue']).default('interrupt'),
  heartbeatIntervalMs: positiveInt.optional(),
  maxRunMs: positiveInt.optional(),
  idleTimeoutMs: positiveInt.optional(),
  cancelGraceMs: z.number().int().min(0).optional(),
  mirrorChildEvents: z.boolean().optional(),
  maxDepth: z.number().int().min(0).max(1000).default(4),
  eventRetention: z.number().int().min(0).default(1000),
  leaseMs: positiveInt.min(200).default(30_000),
  lockDurationMs: positiveInt.min(200).default(30_000),
  stalledIntervalMs: positiveInt.min(100).default(30_000),
  maxStalledCount: z.number().int().min(1).default(1_000_000),
  admissionRetryMs: positiveInt.default(2000),
  reconcileIntervalMs: positiveInt.min(100).default(60_000),
  name: z.string().min(1).optional(),
});

/**
 * Options of {@link createWorker}.
 *
 * @example
 * const options: DistributedWorkerOptions = { redis: 'redis://127.0.0.1:6379', postgres: 'postgres://localhost/app', prefix: 'sprout', agent };
 */
export interface DistributedWorkerOptions {
  /** Redis: the run queue, leases, cancel flags. A URL or ioredis options. */
  redis: RedisConnection;
  /** PostgreSQL: sessions, events, the run ledger. A URL or the adapters' connection options. */
  postgres: PostgresConnection;
  /** The deployment: Redis key prefix, BullMQ queue prefix and PostgreSQL schema. @default 'sprout' */
  prefix?: string | undefined;
  /** Runs the children's agent loops. */
  agent: AgentRuntime;
  /** Opaque tools, handed to the agent. */
  tools?: unknown;
  /** Runs this worker works on at once (BullMQ worker concurrency). @default 4 */
  concurrency?: number | undefined;
  /** When set, the queue's global concurrency (runs active across every worker) is set to it at `start()`. */
  globalConcurrency?: number | undefined;
  /** Runs of one parent session running at once across every worker (admitted atomically in Redis). @default 8 */
  perParentConcurrency?: number | undefined;
  /**
   * What happens to a run whose worker was lost (SIGKILL, crash, cut off longer than the lease):
   * `'interrupt'` (alias `'fail'`) ends it `error`, reason `interrupted`; `'requeue'` ends it so too
   * and then runs the child again under a new run id. @default 'interrupt'
   */
  recover?: 'interrupt' | 'fail' | 'requeue' | undefined;
  /** Heartbeat period of running runs, ms. @default 5000 */
  heartbeatIntervalMs?: number | undefined;
  /** Wall-clock limit of one run, ms. @default none */
  maxRunMs?: number | undefined;
  /** Longest time without a child event, ms. @default none */
  idleTimeoutMs?: number | undefined;
  /** How long a cancelled run waits for a store call in flight, ms. @default 1000 */
  cancelGraceMs?: number | undefined;
  /** Also publish each child event on the child's own stream. @default false */
  mirrorChildEvents?: boolean | undefined;
  /**
   * Deepest child this worker's agents spawn (a root session is depth 0; 0-1000), and how many
   * levels a run's events are forwarded up (a grandchild's reach the root's stream wrapped once
   * per level). Give every worker and front door of a deployment the same value (`sprout worker`
   * and `sprout serve` read `--max-depth` / `SPROUT_MAX_DEPTH`). @default 4
   */
  maxDepth?: number | undefined;
  /** Events kept per session (the PostgreSQL log's retention). @default 1000 */
  eventRetention?: number | undefined;
  /** XState inspection observer for the embedded scheduler actor and its job actors. */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /** Clock of the embedded scheduler's timers (heartbeats, time limits). @default the system clock */
  clock?: Clock | undefined;
  /**
   * How long a run's ownership and per-parent slot last without renewal (renewed every third of it
   * while the run runs): how soon the runs of a dead worker can be taken over. @default 30000
   */
  leaseMs?: number | undefined;
  /** BullMQ `lockDuration`: how long a job stays locked to a worker that stopped renewing it. @default 30000 */
  lockDurationMs?: number | undefined;
  /** BullMQ `stalledInterval`: how often workers look for jobs of dead workers. @default 30000 */
  stalledIntervalMs?: number | undefined;
  /**
   * BullMQ `maxStalledCount`: re-deliveries of one job before BullMQ gives up on it. Sprout ends a
   * re-delivered run itself (as `recover` says), so BullMQ should never give up on one: a job it
   * failed would leave its run open. @default 1000000
   */
  maxStalledCount?: number | undefined;
  /** A run not admitted (its parent at its limit) is retried after about this long, or sooner when a slot frees. @default 2000 */
  admissionRetryMs?: number | undefined;
  /**
   * How often a worker reconciles the queue with PostgreSQL (puts back the jobs of open runs and
   * pending children that Redis lost), and once at `start()`; one worker at a time. @default 60000
   */
  reconcileIntervalMs?: number | undefined;
  /** This worker's name (in BullMQ and in Redis ownership records). @default host:pid:random */
  name?: string | undefined;
  /** Gets every diagnostic (also on `diagnostics$`). */
  onDiagnostic?: ((diagnostic: DistributedDiagnostic) => void) | undefined;
}

/**
 * A worker of distributed mode (see {@link createWorker}).
 *
 * @example
 * const worker = createWorker({ redis, postgres, prefix: 'sprout', agent });
 * await worker.start();
 * process.once('SIGTERM', () => void worker.stop());
 */
export interface DistributedWorker {
  /** This worker's name (BullMQ worker name and owner of its runs in Redis). */
  readonly id: string;
  /** The embedded scheduler that runs this worker's runs (its actor, job actors, diagnostics). */
  readonly scheduler: SpawnScheduler;
  /** The BullMQ worker (undefined before `start()`). */
  readonly bullWorker: Worker | undefined;
  /** Diagnostics (services that went away, deferred and recovered runs, lost leases, the embedded scheduler's). */
  readonly diagnostics$: Observable<DistributedDiagnostic>;
  /**
   * Connects, migrates the schema if needed, and starts taking runs. Rejects with
   * `StoreUnavailableError` / `QueueUnavailableError` when PostgreSQL / Redis cannot be reached
   * now; once started, connections that drop reconnect on their own.
   */
  start(): Promise<void>;
  /**
   * Stops taking runs and resolves once this worker's runs have ended and its connections are
   * closed. `drain` (default) lets running runs finish; `cancel` cancels them (reason `shutdown`).
   * Queued runs stay in the queue for the other workers.
   */
  stop(options?: { mode?: 'drain' | 'cancel' }): Promise<void>;
  /** Run ids this worker is running now. */
  runningRuns(): string[];
}

/** A run this worker is running: its job and a cancel that arrived. */
interface LocalRun {
  data: RunJobData;
  /** The embedded scheduler has the run (a cancel can be sent to it). */
  sent: boolean;
  cancel?: CompletionReason | undefined;
  /** Holds a per-parent slot. */
  slot: boolean;
}

const cancelMessageSchema = z.object({ runId: z.string(), reason: completionReasonSchema });

/**
 * BullMQ's main loop does not look at a raised `concurrency` until one of its jobs ends: pausing
 * (without waiting for active jobs) and resuming wakes it, so it takes the extra job now. Calls
 * are serialized; a closing worker is left alone.
 */
let waking: Promise<void> = Promise.resolve();
function wakeQueueLoop(worker: Worker): Promise<void> {
  waking = waking.then(async () => {
    if (worker.closing !== undefined || worker.isPaused() || !worker.isRunning()) return;
    await worker.pause(true);
    await worker.resume();
  });
  return waking.catch(() => undefined);
}

/** Jitter so that runs refused together do not come back together. */
const jitter = (ms: number): number => Math.round(ms * (0.75 + Math.random() * 0.5));

/**
 * Creates a worker of distributed mode: a BullMQ worker on the deployment's run queue whose
 * processor runs each run through an embedded Sprout scheduler (the same scheduler actor and
 * job actors as embedded mode) on the PostgreSQL store and event log, so its events, heartbeats
 * and completion land on the parent's stream in PostgreSQL, where any front door streams them.
 *
 * For each job (job id = run id) the processor:
 * 1. drops it when the child's live run (Redis `live:<child>`) is another run (it ended, or was
 *    superseded);
 * 2. claims the run (Redis `owner:<run>`, expiring when this worker dies) — a run another live
 *    worker owns is delayed;
 * 3. ends a run the PostgreSQL ledger shows open (its worker was lost) as `recover` says, exactly
 *    once; skips a run that already ended;
 * 4. honours a cancel that arrived before it started (`cancel:<run>`, or a parent in a cancelled
 *    tree): the run is announced and ends `cancelled`, the agent never runs;
 * 5. otherwise takes a per-parent slot (a Lua script over `slots:<parent>`, a ZSET of leases) —
 *    when the parent is at its limit the job is delayed and retried, never failed — and runs it:
 *    the embedded scheduler publishes `sub_session_started`, runs the agent, publishes the
 *    completion; cancels pushed on `cancel` pub/sub (or found by polling the flags) reach it.
 *
 * @example
 * const worker = createWorker({ redis: 'redis://127.0.0.1:6379', postgres: 'postgres://localhost/app', agent, concurrency: 4, perParentConcurrency: 2 });
 * await worker.start();
 */
export function createWorker(options: DistributedWorkerOptions): DistributedWorker {
  const parsed = workerOptionsSchema.safeParse({ ...options, agent: undefined, redis: undefined, postgres: undefined });
  if (!parsed.success) throw new SproutValidationError('distributed worker options', parsed.error.issues);
  const opts = parsed.data;
  const prefix = validatePrefix(opts.prefix);
  const recover = opts.recover === 'fail' ? 'interrupt' : opts.recover;
  const id = opts.name ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const keys = redisKeys(prefix);
  const { diagnostics$, report, complete } = createDiagnostics(options.onDiagnostic);
  const serviceError = (error: unknown): void => report({ kind: 'service_error', error });

  // A worker stopped inside a transaction must not hold row locks past its runs' lease: the server
  // ends such a session (and a statement never waits on a lock that long) well before another
  // worker takes the runs over.
  const pgOptions = typeof options.postgres === 'string' ? { connectionString: options.postgres } : { ...options.postgres };
  pgOptions.poolConfig = {
    idle_in_transaction_session_timeout: Math.min(DEFAULT_IDLE_IN_TRANSACTION_MS, Math.floor(opts.leaseMs / 2)),
    lock_timeout: Math.min(DEFAULT_LOCK_TIMEOUT_MS, Math.floor(opts.leaseMs / 3)),
    ...pgOptions.poolConfig,
  };
  const { store, log } = openPostgres(pgOptions, prefix, opts.eventRetention, serviceError);
  const ledger = new PostgresRunLedger(store.database, log);
  const fences = new PostgresRunFences(store.database);
  /** How long an expired slot lease of a lost worker stays counted: until its job was surely delivered again and closed. */
  const slotGraceMs = 2 * (opts.lockDurationMs + opts.stalledIntervalMs + opts.leaseMs);
  const clock = toSproutClock(options.clock ?? systemClock);
  /** The ownership tokens this worker holds, by run id and by the session each run runs on. */
  const tokens = new Map<string, RunFence>();
  const tokensBySession = new Map<string, RunFence>();
  /** Runs another worker took over while this one still ran them (it stalled past its lease): nothing more of them is written. */
  const lost = new Set<string>();
  /** This worker learnt it lost a run (a refused write, or a renewal that found another claim): stop it at once. */
  const loseRun = (runId: string, parentSessionId: string, what: 'owner' | 'slot'): void => {
    if (lost.has(runId) || !local.has(runId)) return;
    lost.add(runId);
    report({ kind: 'lease_lost', runId, parentSessionId, what });
    cancelLocal(runId, 'interrupted');
  };
  /** Completions being written, by run id (the processor waits for its run's before it checks the ledger). */
  const completions = new Map<string, Promise<unknown>>();
  /** Runs whose completion this worker committed: closed in the ledger by that same transaction (the log fences runs). */
  const committed = new Set<string>();
  const completing = (runId: string, written: Promise<unknown>): void => {
    // Registered first, so the run is marked before whoever awaits `completions` resumes.
    written.then(
      () => committed.add(runId),
      () => undefined,
    );
    const settled = written.then(
      () => undefined,
      () => undefined,
    );
    completions.set(runId, settled);
  };
  const fencing = {
    byRun: (runId: string) => tokens.get(runId),
    bySession: (sessionId: string) => tokensBySession.get(sessionId),
    onFenced: (error: RunFencedError) => loseRun(error.runId, local.get(error.runId)?.data.parentSessionId ?? '', 'owner'),
  };
  /** The runs this worker took lately (the last 10,000): only they can have writes of this process in flight. */
  const taken = new Set<string>();
  const tookBefore = (runId: string): boolean => {
    if (taken.has(runId)) return true;
    taken.add(runId);
    if (taken.size > 10_000) taken.delete(taken.values().next().value as string);
    return false;
  };
  /** At most `concurrency` runs of this worker run at once; a waiting run holds no slot. */
  const slots = new WorkerSlots(opts.concurrency);
  /** The slot of each run this worker runs, by run id: held (not given back for a wait), done (its job ended). */
  const slotHolders = new Map<string, { held: boolean; done: boolean }>();
  /** Children read by their run's first claim, served to that run's load (one statement fewer per run). */
  const preloaded = new PreloadedSessions();
  const scheduler = createSpawnScheduler({
    store: workerSessionStore(store, fencing, preloaded, (runId) => lost.has(runId)),
    eventLog: workerEventLog(log, fencing, completing, (runId) => lost.has(runId)),
    agent: options.agent,
    tools: options.tools,
    clock: options.clock ?? systemClock,
    // BullMQ's concurrency is the limit (it grows by one while a run waits for its children):
    // the embedded scheduler never holds back a job this worker took.
    concurrency: Math.max(64, opts.concurrency * 8),
    perParentConcurrency: Math.max(64, opts.concurrency * 8),
    queueCapacity: Math.max(128, opts.concurrency * 16),
    // Halt marks live in Redis (a new run of a session on another worker clears them there).
    rememberHalts: false,
    spawner: {
      spawnChild: (parentSessionId, brief) => need(front).spawnChild(parentSessionId, brief),
      waitForChildren: async (parentSessionId, waitOptions) => {
        const runId = tokensBySession.get(parentSessionId)?.runId ?? '';
        const holder = slotHolders.get(runId);
        // A run that holds no slot (it ended already — its agent did not stop at the abort — or a
        // wait of it is already in progress) has nothing to give back: it just waits.
        if (holder === undefined || !holder.held) return need(front).waitForChildren(parentSessionId, waitOptions);
        // The waiting run gives its slot back: this worker takes one more job while it waits.
        const bull = need(bullWorker);
        holder.held = false;
        slots.release();
        bull.concurrency = bull.concurrency + 1;
        await wakeQueueLoop(bull);
        try {
          return await need(front).waitForChildren(parentSessionId, waitOptions);
        } finally {
          bull.concurrency = Math.max(opts.concurrency, bull.concurrency - 1);
          // A run that ended while it waited takes no slot (its job is gone). Else a job taken in its
          // slot may still run: the run goes on once a slot frees, ahead of queued jobs.
          if (!holder.done) {
            await slots.acquire('resumed', () => report({ kind: 'run_slot_wait', runId, resumed: true }));
            // It ended while it queued for the slot: give it straight back (its job released none).
            if (holder.done) slots.release();
            else holder.held = true;
          }
        }
      },
    } satisfies Spawner,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    maxRunMs: opts.maxRunMs,
    idleTimeoutMs: opts.idleTimeoutMs,
    cancelGraceMs: opts.cancelGraceMs,
    mirrorChildEvents: opts.mirrorChildEvents,
    maxDepth: opts.maxDepth,
    inspect: options.inspect,
    createId: randomUUID,
    onDiagnostic: (diagnostic) => report({ kind: 'scheduler', diagnostic }),
  });

  let redis: ReturnType<typeof openRedis> | undefined;
  let bullRedis: ReturnType<typeof openRedis> | undefined;
  let subscriber: ReturnType<typeof openRedis> | undefined;
  let scripts: RedisScripts | undefined;
  /** The run-ownership port (Redis claims, PostgreSQL fences): reserve, renew, claim the end, end. */
  let ownership: RedisRunOwnership | undefined;
  let queue: Queue | undefined;
  let bullWorker: Worker | undefined;
  let renewTimer: NodeJS.Timeout | undefined;
  /** The deployment's front door, for the agents' spawns and waits (children go to the shared queue). */
  let front: DistributedScheduler | undefined;
  let reconcileTimer: NodeJS.Timeout | undefined;
  let phase: 'created' | 'started' | 'stopping' = 'created';
  let stopped: Promise<void> | undefined;
  const local = new Map<string, LocalRun>();
  /** Waiters for the moment no run of this worker runs here any more. */
  const drainedWaiters: (() => void)[] = [];
  const localDrained = (): Promise<void> =>
    local.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => drainedWaiters.push(resolve));
  /** Consecutive service failures per run (this worker's view): the delay before it is tried again grows with them. */
  const failures = new Map<string, number>();
  const serviceBackoff = (runId: string): number => {
    const count = (failures.get(runId) ?? 0) + 1;
    failures.delete(runId);
    failures.set(runId, count);
    if (failures.size > 10_000) failures.delete(failures.keys().next().value as string);
    return jitter(Math.min(10_000, 250 * 2 ** Math.min(count - 1, 6)));
  };

  const need = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('distributed worker is not started');
    return value;
  };

  /** Puts the job back in the queue for `delayMs` (BullMQ: move to delayed, then DelayedError). */
  const defer = async (job: Job, token: string, delayMs: number, why: string, error?: unknown): Promise<never> => {
    try {
      await job.moveToDelayed(Date.now() + delayMs, token);
    } catch (moveError) {
      // This delivery's lock is stale (the job went to another worker after a stall): the job is
      // that worker's now, nothing to defer or fail here.
      if (isLockLost(moveError)) throw new DelayedError(`${why} (the job's lock had passed on)`);
      throw moveError;
    }
    report({ kind: 'run_deferred', runId: job.id ?? '?', why, delayMs, ...(error === undefined ? {} : { error }) });
    throw new DelayedError(why);
  };

  const addRun = async (data: RunJobData): Promise<void> => {
    await need(queue).add(RUN_JOB_NAME, data, { ...RUN_JOB_OPTIONS, jobId: data.runId });
  };

  /** The run is over: the child has no live run any more (unless a newer one took its place). */
  const finishRun = async (data: RunJobData, status?: CompletionStatus): Promise<void> => {
    await need(ownership).end({ childSessionId: data.childSessionId, runId: data.runId, status });
  };

  /**
   * `recover: 'requeue'`: the child runs again under the run id derived from the lost one
   * (idempotent). PostgreSQL first (the child pending under that id, fenced by this worker's claim
   * of the lost run), so the requeue survives Redis losing the job.
   */
  const requeue = async (data: RunJobData, fence: RunFence): Promise<string> => {
    const next = requeuedRunId(data.runId);
    await planRequeue({ store, clock }, data.childSessionId, next, fence);
    await need(scripts).replaceIf(keys.live(data.childSessionId), data.runId, next);
    await addRun({ ...data, runId: next });
    await need(redis).del(keys.taken(data.runId), keys.cancel(data.runId), keys.epoch(data.runId));
    return next;
  };

  /** After a lost run was ended: requeue it (when asked, not cancelled, and it still has its prompt), else finish. */
  const afterLostRun = async (
    data: RunJobData,
    fence: RunFence,
    interrupted: boolean,
    session: Parameters<typeof hasPendingUserMessage>[0] | undefined,
    status?: CompletionStatus,
  ) => {
    const cancelled = (await need(redis).exists(keys.cancel(data.runId))) > 0;
    if (recover === 'requeue' && interrupted && !cancelled && session && hasPendingUserMessage(session)) return requeue(data, fence);
    // Ended here (its worker was lost before it ended): that end reaches the run's subtree, as any
    // end `error` does (children spawned with `onParentEnd: 'abandon'` go on). An end the run's own
    // worker wrote reached it there already (or, for a shutdown, was not meant to).
    if (interrupted && status === 'error') await endReachesSubtree(data.childSessionId);
    await finishRun(data, status);
    return undefined;
  };

  const releaseSlot = async (data: RunJobData): Promise<void> => {
    const parked = await need(scripts).releaseSlot(data.parentSessionId, data.runId, opts.perParentConcurrency, slotGraceMs);
    if (parked.length > 0) void promote(data.parentSessionId, parked);
  };

  /**
   * A session's run ended `cancelled` or `error`: the session is halted (children spawned under it
   * from now on end `cancelled`, reason `parent`) and its queued and running descendants are
   * cancelled (reason `parent`), except children spawned with `onParentEnd: 'abandon'` and their
   * subtrees. Best effort: a failure is reported, the run's end stands.
   */
  const endReachesSubtree = async (sessionId: string): Promise<void> => {
    try {
      await canceller.halt(sessionId);
      await canceller.cancelSubtree(sessionId, 'parent', false);
    } catch (error) {
      serviceError(error);
    }
  };
  const canceller = createTreeCanceller({
    redis: () => need(redis),
    queue: () => need(queue),
    store,
    keys,
    holdMs: DEFAULT_CANCEL_TREE_HOLD_MS,
    onRedis: async (what, call) => {
      try {
        return await call();
      } catch (error) {
        throw queueUnavailable(error, what);
      }
    },
  });

  /** Wakes parked runs of a parent whose slot freed (best effort: each retries on its own anyway). */
  const promote = async (parentSessionId: string, runIds: readonly string[]): Promise<void> => {
    for (const runId of runIds) {
      try {
        const job = await need(queue).getJob(runId);
        if (!job) {
          await need(scripts).unpark(parentSessionId, runId);
          continue;
        }
        const state = await job.getState();
        if (state === 'delayed') await job.promote();
        else if (state === 'completed' || state === 'failed' || state === 'unknown') await need(scripts).unpark(parentSessionId, runId);
      } catch (error) {
        // Promoting races with the job's own retry; either way it is taken again.
        if (!/not in the delayed state|is not in/i.test(error instanceof Error ? error.message : '')) serviceError(error);
      }
    }
  };

  /** Runs the job through the embedded scheduler; resolves with the run's summary once its completion was published. */
  const runHere = async (data: RunJobData, cancel: CompletionReason | undefined, slot: boolean): Promise<ChildRunSummary | undefined> => {
    // A stopping worker starts no agent (its job is deferred): stop() waits for the runs it has.
    if (phase === 'stopping') return undefined;
    const entry: LocalRun = { data, sent: false, cancel, slot };
    local.set(data.runId, entry);
    try {
      const { runId, parentSessionId, childSessionId, model, title, ancestors, onParentEnd } = data;
      const snapshot = scheduler.actor.getSnapshot();
      if (snapshot.status !== 'active' || snapshot.value !== 'accepting') return undefined;
      // A root's own run has no parent to wait on: it ends with its terminal event on its own stream.
      const rootEnd =
        parentSessionId === ''
          ? firstValueFrom(
              scheduler.events(childSessionId).pipe(filter(({ event }) => event.type === 'complete' || event.type === 'error')),
            ).then(({ event }): ChildRunSummary[] => {
              if (event.type !== 'error') return [{ childSessionId, runId, status: 'completed' }];
              const status = /^run cancelled/.test(event.message) ? 'cancelled' : 'error';
              return [{ childSessionId, runId, status, error: event.message }];
            })
          : undefined;
      // The same public call as any embedded caller: the run keeps the id the queue gave it, and
      // the runs above its parent (wherever they run) link its stream up to the root's.
      const queued = await scheduler.enqueue(
        { parentSessionId, childSessionId, model, ...(onParentEnd === undefined || parentSessionId === '' ? {} : { onParentEnd }) },
        { runId, title, root: parentSessionId === '', ...(parentSessionId === '' || ancestors === undefined ? {} : { ancestors }) },
      );
      if (queued.runId !== runId) return undefined;
      const ended = rootEnd ?? scheduler.waitForChildren(parentSessionId, { childSessionIds: [childSessionId] });
      entry.sent = true;
      if (entry.cancel !== undefined) void scheduler.cancel(childSessionId, entry.cancel);
      const [summary] = await ended;
      // The completion is being written (after a check that the run is still open): wait for it.
      await completions.get(data.runId);
      return summary;
    } finally {
      local.delete(data.runId);
      completions.delete(data.runId);
      if (local.size === 0) for (const resolve of drainedWaiters.splice(0)) resolve();
    }
  };

  /** A cancel for one of this worker's runs (pushed, or found by polling the flags). */
  const cancelLocal = (runId: string, reason: CompletionReason): void => {
    const entry = local.get(runId);
    if (!entry || entry.cancel !== undefined) return;
    entry.cancel = reason;
    if (entry.sent) void scheduler.cancel(entry.data.childSessionId, reason);
  };

  /**
   * This worker's claim of a lost run lapsed (its lease ran out on a slow machine) or another
   * worker claimed it since, before the run was closed: the job is tried again, never completed
   * here, so the run is closed by whoever holds the claim then (a retry that finds it closed
   * only cleans up).
   */
  const lostClaim = (job: Job, token: string): Promise<never> =>
    defer(job, token, jitter(opts.admissionRetryMs), 'the claim lapsed before the lost run was closed');

  /** The `maxDepth` values of queuing processes that differ from this worker's, reported once each. */
  const mismatchedDepths = new Set<number>();

  const processRun = async (job: Job, token: string | undefined): Promise<string> => {
    const parsedJob = runJobSchema.safeParse(job.data);
    if (!parsedJob.success || parsedJob.data.runId !== job.id) {
      throw new UnrecoverableError(
        `run job ${job.id ?? '?'} carries no valid run (${parsedJob.error?.issues[0]?.message ?? 'job id differs from run id'})`,
      );
    }
    if (token === undefined) throw new Error('BullMQ gave the processor no lock token');
    const data = parsedJob.data;
    const { runId, parentSessionId, childSessionId } = data;
    if (data.maxDepth !== undefined && data.maxDepth !== opts.maxDepth && !mismatchedDepths.has(data.maxDepth)) {
      mismatchedDepths.add(data.maxDepth);
      report({ kind: 'config_mismatch', option: 'maxDepth', here: opts.maxDepth, queued: data.maxDepth, runId });
    }
    const r = need(redis);
    const s = need(scripts);
    const retryLater = (): number => serviceBackoff(job.id ?? '');
    // This process still runs it: BullMQ took the job for stalled (a blocked event loop). Wait for it.
    if (local.has(runId)) return defer(job, token, opts.leaseMs, 'the run is still running in this worker');
    let claimed = 0;
    let slot = false;
    /** The end already gave the claim and the slot back. */
    let released = false;
    try {
      // The run-ownership port: the flags and the Redis claim in one script, then the PostgreSQL
      // token, the open-ledger row and the child's last run in one statement.
      const reserved = await need(ownership).reserve(data, id);
      if (reserved.kind === 'gone') {
        // Ended (and cleaned up), or superseded. A requeue interrupted halfway is finished here.
        if (reserved.liveRunId === requeuedRunId(runId)) await addRun({ ...data, runId: reserved.liveRunId });
        return 'superseded';
      }
      if (reserved.kind === 'held') {
        // A newer claim holds it (in PostgreSQL, or Redis moved on): retried, never dropped — that
        // claim's worker may be gone, and a job completed here would leave the run open for good.
        if (reserved.retryInMs === undefined) return await defer(job, token, jitter(opts.admissionRetryMs), 'a newer claim holds the run');
        return await defer(job, token, reserved.retryInMs + 100, 'another worker owns the run');
      }
      const { token: fence, details: inspected } = reserved;
      const { cancel: cancelFlag, halt: haltFlag, taken } = inspected;
      claimed = fence.epoch;

      if (inspected.open) {
        // Ownership is checked again before the lost run is closed: only the current claim ends it, once.
        if (!(await need(ownership).claimEnd(childSessionId, fence, id))) return await lostClaim(job, token);
        let end;
        try {
          end = await closeLostRun({ store, log, clock, report: serviceError }, data, fence);
        } catch (error) {
          if (error instanceof RunFencedError) return await lostClaim(job, token);
          throw error;
        }
        // The lost worker's slot is given back now that its run is closed, never before.
        await releaseSlot(data);
        const requeuedAs = await afterLostRun(data, fence, end.interrupted, end.session, end.status);
        report({ kind: 'run_recovered', runId, childSessionId, status: end.status, requeuedAs });
        return 'recovered';
      }
      // Only a child whose stored last run is this one, ended, is loaded here (the job loads it anyway).
      const last = inspected.child;
      if (last?.lastRunId === requeuedRunId(runId)) {
        // A requeue of this lost run was planned in PostgreSQL and interrupted before its job was queued: finish it.
        await requeue(data, fence);
        return 'ended before';
      }
      const endedBefore = last?.lastRunId === runId && last.lastRunStatus !== undefined && isTerminal(last.lastRunStatus);
      let child;
      if (endedBefore) {
        try {
          child = await loadValidSession(store, childSessionId);
        } catch (error) {
          if (isServiceError(error)) throw error;
          // An unreadable child: the run reports it (loading fails with its error).
        }
      }
      const endedAs = storedEnd(child, runId);
      if (endedAs !== undefined) {
        // It ended, but its worker was lost before cleaning up (or before requeueing it).
        const lost = child?.metadata.last_run_error === WORKER_LOST_ERROR;
        await afterLostRun(data, fence, lost, child, endedAs);
        return 'ended before';
      }
      if (parentSessionId === '' && taken !== null && !endedBefore) {
        // A root's own run a lost worker had taken (a root's run is not in the open-run ledger):
        // ended as embedded recovery ends it, unless `requeue` runs its pending message again.
        const root = await loadValidSession(store, childSessionId);
        // Closed while this claim waited for the fence row (the claim's snapshot predates it):
        // its terminal event is written; a second close would write another.
        const endedMeanwhile = root === undefined ? undefined : storedEnd(root, runId);
        if (root && endedMeanwhile !== undefined) {
          await afterLostRun(data, fence, root.metadata.last_run_error === WORKER_LOST_ERROR, root, endedMeanwhile);
          return 'ended before';
        }
        if (root && !(recover === 'requeue' && hasPendingUserMessage(root))) {
          if (!(await need(ownership).claimEnd(childSessionId, fence, id))) return await lostClaim(job, token);
          try {
            await closeLostRootRun({ store, log, clock }, root, data, fence);
          } catch (error) {
            if (error instanceof RunFencedError) return await lostClaim(job, token);
            throw error;
          }
          await endReachesSubtree(childSessionId);
          await finishRun(data, 'error');
          report({ kind: 'run_recovered', runId, childSessionId, status: 'error' });
          return 'recovered';
        }
      }
      if (taken !== null && (await ledger.wasAnnounced(parentSessionId, runId))) {
        await finishRun(data);
        return 'ended before';
      }

      const cancelReason = completionReasonSchema.safeParse(cancelFlag).data ?? (haltFlag === null ? undefined : 'parent');
      if (cancelReason === undefined && parentSessionId !== '') {
        // The slot and the "taken" marker in one round trip.
        const admission = await s.admitRun(parentSessionId, runId, opts.perParentConcurrency, opts.leaseMs, slotGraceMs, id, TAKEN_TTL_MS);
        slot = admission === 'admitted';
        if (admission === 'rebuilding') {
          // Redis lost its data (or the deployment is new): nothing is admitted until a pass gave every open run its slot back.
          void reconcile();
          return await defer(job, token, jitter(REBUILD_RETRY_MS), 'the per-parent slots are being rebuilt from PostgreSQL');
        }
        if (!slot) return await defer(job, token, jitter(opts.admissionRetryMs), `parent ${parentSessionId} is at its limit`);
      } else {
        await s.unpark(parentSessionId, runId);
        await r.set(keys.taken(runId), id, 'PX', TAKEN_TTL_MS);
      }
      if (haltFlag !== null) {
        // The tree stays cancelled below: this child's own children end cancelled too.
        const ttl = await r.pttl(keys.halt(parentSessionId));
        if (ttl > 0) await r.set(keys.halt(childSessionId), 'parent', 'PX', ttl);
      }

      tokens.set(runId, fence);
      tokensBySession.set(childSessionId, fence);
      // A first claim (epoch 1) read the child in its own snapshot after every earlier write: the
      // run's load gets that row instead of reading it again.
      if (fence.epoch === 1 && last !== undefined) preloaded.offer(childSessionId, fence, last.stored);
      const summary = await inRunSpan(data, () => runHere(data, cancelReason, slot));
      // Lost: taken over (this delivery's BullMQ lock is stale then, and the deferral changes
      // nothing), or the claim expired under a stall and nobody took it: the next delivery closes
      // the run, which stays open. Completing the job would strand it.
      if (lost.has(runId)) return await defer(job, token, jitter(opts.admissionRetryMs), 'this worker lost its claim of the run');
      if (summary === undefined) return await defer(job, token, retryLater(), 'this worker is stopping');
      if (summary.status === 'cancelled' && summary.error === NEVER_ANNOUNCED) {
        return await defer(job, token, retryLater(), 'sub_session_started could not be written');
      }
      // The completion must be durable before the job is: else the next delivery ends it.
      // A completion this worker committed closed the run in the same transaction: no need to ask.
      if (!committed.has(runId) && (await ledger.openRun(runId)))
        return await defer(job, token, retryLater(), 'the completion could not be written');
      // A run that ended `cancelled` or `error` reaches its subtree, as in embedded mode (not one
      // this worker's own shutdown cancelled: the other workers carry on with its children).
      const shutdown = summary.status === 'cancelled' && phase === 'stopping';
      if ((summary.status === 'cancelled' || summary.status === 'error') && !shutdown) await endReachesSubtree(childSessionId);
      // The end, the claim and the slot in one round trip (a slot of a run this worker lost is
      // freed by the worker that took it, when it closes the run).
      const parked = await need(ownership).endAndRelease(
        { childSessionId, runId, parentSessionId, status: isTerminal(summary.status) ? summary.status : undefined },
        claimed > 0 ? fence : undefined,
        id,
        { release: slot && !lost.has(runId), limit: opts.perParentConcurrency, graceMs: slotGraceMs },
      );
      released = true;
      if (parked.length > 0) void promote(parentSessionId, parked);
      failures.delete(runId);
      return summary.status;
    } catch (error) {
      if (error instanceof DelayedError) throw error;
      return await defer(
        job,
        token,
        retryLater(),
        'a service failed',
        isServiceError(error) ? error : queueUnavailable(error, `running ${runId}`),
      );
    } finally {
      preloaded.drop(childSessionId, runId);
      const wasLost = lost.delete(runId);
      committed.delete(runId);
      if (tokens.get(runId)?.epoch === claimed) {
        tokens.delete(runId);
        if (tokensBySession.get(childSessionId)?.runId === runId) tokensBySession.delete(childSessionId);
      }
      // A run this worker lost is closed by the worker that took it, which frees its slot then.
      // The slot and the claim go back in one round trip.
      const releaseSlotToo = slot && !wasLost;
      if (!released && (releaseSlotToo || claimed > 0)) {
        await s
          .releaseRun(data, releaseSlotToo, opts.perParentConcurrency, slotGraceMs, id, claimed)
          .then((parked) => {
            if (parked.length > 0) void promote(parentSessionId, parked);
          })
          .catch(serviceError);
      }
    }
  };

  /** Every third of the lease: renew ownership and slots of running runs, and look for cancel flags pushes may have missed. */
  let renewing = false;
  const renew = async (): Promise<void> => {
    if (renewing || local.size === 0) return;
    renewing = true;
    try {
      const s = need(scripts);
      const r = need(redis);
      await Promise.all(
        [...local.values()].map(async (entry) => {
          const { runId, parentSessionId } = entry.data;
          const fence = tokens.get(runId);
          if (fence !== undefined && !(await need(ownership).renew(fence, id))) {
            // Taken over (or expired and gone): this worker never claims it back; it stops the run.
            loseRun(runId, parentSessionId, 'owner');
            // The run stays open until whoever closes it frees its slot: when Redis lost the slot
            // with the claim, it is put back, so the parent's limit holds meanwhile.
            if (entry.slot && (await ledger.openRun(runId))) await holdSlot(r, keys, parentSessionId, runId, Date.now(), slotGraceMs);
            return;
          }
          if (entry.slot && !(await s.acquireSlot(parentSessionId, runId, opts.perParentConcurrency, opts.leaseMs, false, slotGraceMs))) {
            report({ kind: 'lease_lost', runId, parentSessionId, what: 'slot' });
          }
          const [cancel, halt] = await r.mget(keys.cancel(runId), keys.halt(parentSessionId));
          const reason = completionReasonSchema.safeParse(cancel).data ?? (halt === null ? undefined : 'parent');
          if (reason !== undefined) cancelLocal(runId, reason);
        }),
      );
    } catch (error) {
      serviceError(error);
    } finally {
      renewing = false;
    }
  };

  /**
   * One reconciliation pass, when no other worker runs one now (a Redis lock for the interval), or
   * when the slots-intact mark is missing (Redis lost its data, the lock with it; or the
   * deployment is new): admission waits for that pass.
   */
  let reconciling = false;
  const reconcile = async (): Promise<void> => {
    if (reconciling || phase !== 'started') return;
    reconciling = true;
    try {
      const r = need(redis);
      if ((await r.set(keys.reconciler, id, 'PX', opts.reconcileIntervalMs, 'NX')) !== 'OK') return;
      const minAgeMs = Math.max(opts.reconcileIntervalMs, opts.leaseMs * 2);
      const done = await reconcileQueue({
        store,
        log,
        redis: r,
        queue: need(queue),
        keys,
        minAgeMs,
        now: () => Date.now(),
        maxDepth: opts.maxDepth,
        onError: serviceError,
        slotGraceMs,
        stillOpen: async (runId) => (await ledger.openRun(runId)) !== undefined,
      });
      if (done.reopened.length > 0 || done.requeued.length > 0) report({ kind: 'queue_reconciled', ...done });
    } catch (error) {
      serviceError(error);
      // A failed pass gives the lock back: the next one (or an admission waiting for the slots) need not wait an interval.
      await need(scripts)
        .deleteIf(keys.reconciler, id)
        .catch(() => undefined);
    } finally {
      reconciling = false;
    }
  };

  return {
    id,
    scheduler,
    diagnostics$,
    get bullWorker() {
      return bullWorker;
    },

    async start() {
      if (phase !== 'created') throw new Error('a distributed worker starts once');
      phase = 'started';
      await store.database.ready();
      await probeRedis(options.redis);
      await scheduler.start();
      redis = openRedis(options.redis, 'worker commands', serviceError, { blocking: true, pipelined: true });
      bullRedis = openRedis(options.redis, 'worker queue', serviceError, { blocking: true });
      subscriber = openRedis(options.redis, 'worker cancel channel', serviceError, { blocking: true });
      scripts = new RedisScripts(redis, keys);
      ownership = new RedisRunOwnership({
        redis,
        scripts,
        keys,
        fences,
        leaseMs: opts.leaseMs,
        // Only a run this process took before can have writes still in flight here: flush for it alone.
        beforeFence: (runId) => (tookBefore(runId) ? log.flush() : undefined),
      });
      queue = new Queue(RUN_QUEUE_NAME, { connection: bullRedis, prefix });
      queue.on('error', serviceError);
      if (opts.globalConcurrency !== undefined) await queue.setGlobalConcurrency(opts.globalConcurrency);
      subscriber.on('message', (channel: string, message: string) => {
        if (channel !== keys.cancelChannel) return;
        try {
          const { runId, reason } = cancelMessageSchema.parse(JSON.parse(message));
          cancelLocal(runId, reason);
        } catch {
          // Not a cancel message of ours.
        }
      });
      await subscriber.subscribe(keys.cancelChannel);
      const countedRun = async (job: Job, token: string | undefined): Promise<string> => {
        await slots.acquire('job', () => report({ kind: 'run_slot_wait', runId: job.id ?? '', resumed: false }));
        const holder = { held: true, done: false };
        const runId = job.id ?? '';
        // A job of a run id another job of this worker still holds (a redelivery) keeps its own slot only.
        const shared = slotHolders.has(runId);
        if (!shared) slotHolders.set(runId, holder);
        try {
          return await processRun(job, token);
        } finally {
          holder.done = true;
          if (!shared && slotHolders.get(runId) === holder) slotHolders.delete(runId);
          // A run waiting for its children gave its slot back already: its wait takes one and returns it.
          if (holder.held) slots.release();
        }
      };
      // The first pass before the first job: on a new deployment (or after Redis lost its data) it
      // sets the slots-intact mark that admission waits for.
      await reconcile();
      bullWorker = new Worker(RUN_QUEUE_NAME, countedRun, {
        connection: bullRedis,
        prefix,
        name: id,
        concurrency: opts.concurrency,
        lockDuration: opts.lockDurationMs,
        stalledInterval: opts.stalledIntervalMs,
        maxStalledCount: opts.maxStalledCount,
        settings: { backoffStrategy: (attemptsMade: number) => runBackoffMs(attemptsMade) },
      });
      bullWorker.on('error', serviceError);
      renewTimer = setInterval(() => void renew(), Math.max(50, Math.floor(opts.leaseMs / 3)));
      renewTimer.unref();
      await bullWorker.waitUntilReady();
      front = createDistributedScheduler({
        redis: options.redis,
        postgres: pgOptions,
        prefix,
        maxDepth: opts.maxDepth,
        eventRetention: opts.eventRetention,
        onDiagnostic: report,
      });
      await front.start();
      reconcileTimer = setInterval(() => void reconcile(), opts.reconcileIntervalMs);
      reconcileTimer.unref();
    },

    stop(stopOptions) {
      const mode = stopOptions?.mode ?? 'drain';
      stopped ??= (async () => {
        if (phase === 'created') {
          phase = 'stopping';
          await log.close();
          await store.close();
          complete();
          return;
        }
        phase = 'stopping';
        // Steps that wait on Redis are bounded once this worker's runs are done: with Redis away
        // they would wait for ever (see boundedStopSteps).
        const bounded = boundedStopSteps({
          clock,
          runsDone: localDrained,
          onError: serviceError,
          onCut: (what, graceMs) =>
            serviceError(queueUnavailable(new Error(`no answer ${graceMs} ms after the runs ended`), `stopping: ${what}`)),
        });
        const closing = bullWorker?.close();
        if (mode === 'cancel') for (const runId of local.keys()) cancelLocal(runId, 'shutdown');
        await bounded(closing, 'closing the BullMQ worker');
        clearInterval(reconcileTimer);
        await bounded(
          (async () => {
            while (reconciling) await new Promise((resolve) => setTimeout(resolve, 10));
          })(),
          'waiting for the reconciliation pass',
        );
        if (scripts) await bounded(scripts.deleteIf(keys.reconciler, id), 'giving the reconciler lock back');
        await scheduler.stop({ mode });
        clearInterval(renewTimer);
        await bounded(front?.stop(), 'stopping the front door of spawns');
        await bounded(queue?.close(), 'closing the run queue');
        for (const connection of [subscriber, bullRedis, redis]) if (connection) await closeRedis(connection);
        await log.close();
        await store.close();
        complete();
      })();
      return stopped;
    },

    runningRuns() {
      return [...local.keys()];
    },
  };
}
