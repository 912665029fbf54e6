import type { InspectionEvent, Observer } from 'xstate';
import type { Clock } from '../clock.js';
import type { AgentRuntime, EventLog, SessionStore, Spawner } from './ports.js';
import type { SchedulerDiagnostic } from './scheduler-diagnostic.js';

/**
 * What `createSpawnScheduler` takes: the two ports, then limits and hooks, each with its default.
 * Checked at run time with the scheduler's zod schema (bad options throw `SproutValidationError`);
 * `test/package/public-types.types.test.ts` checks at type level that this interface and the
 * schema name the same options.
 *
 * @example
 * const scheduler = createSpawnScheduler({
 *   store: new SqliteSessionStore({ path: '.sprout/sprout.db' }),
 *   agent: openAICompatibleAgent({ baseURL: 'http://127.0.0.1:11434/v1' }),
 *   concurrency: 4,
 *   maxRunMs: 10 * 60_000,
 * });
 */
export interface SpawnSchedulerOptions {
  /**
   * Where sessions live: `MemorySessionStore`, `SqliteSessionStore`, or your own
   * `SessionStore`. Required.
   */
  store: SessionStore;
  /**
   * Runs a child's agent loop: `openAICompatibleAgent(...)`, `aiSdkAgent(...)`,
   * `scriptedAgent(...)`, or your own `AgentRuntime`. Required.
   */
  agent: AgentRuntime;
  /** Opaque tools, handed to the agent as `request.tools` on every run. @default undefined */
  tools?: unknown;
  /**
   * What agents get as `request.spawner` to grow their tree. @default this scheduler (a wait
   * from inside a run gives the run's slot back). Distributed workers pass the deployment's
   * front door, so children go to the shared queue.
   */
  spawner?: Spawner | undefined;
  /**
   * Job actors in flight at once, from `loading` to their final state (runs cancelled while
   * queued do not count). An integer from 1. @default 16
   */
  concurrency?: number | undefined;
  /** Job actors in flight for one parent session. An integer from 1. @default 8 */
  perParentConcurrency?: number | undefined;
  /** Runs waiting in the queue; `enqueue` waits for room beyond it. An integer from 1. @default 128 */
  queueCapacity?: number | undefined;
  /**
   * Whether a session whose run ended `cancelled` / `error` (or that was cancelled) stays halted
   * here until it is asked to run again (children spawned under it meanwhile end `cancelled`,
   * reason `parent`, without running). `false` for one of several schedulers over shared storage,
   * such as a distributed worker's: the deployment keeps halt marks where every process sees them
   * (a new run of the session elsewhere clears them). Its end reaches the runs in flight below it
   * either way. @default true
   */
  rememberHalts?: boolean | undefined;
  /**
   * Period of `sub_session_heartbeat`; the first one is published as `running` begins.
   * Milliseconds, an integer from 1. @default 5000
   */
  heartbeatIntervalMs?: number | undefined;
  /**
   * Wall-clock limit of one run, from `loading` to its end, in milliseconds: the run ends `error` with reason `timeout`
   * (`child session timed out after <n> ms`) and its agent's signal aborts. @default no limit
   */
  maxRunMs?: number | undefined;
  /**
   * Longest time without a child event, in milliseconds: the run ends `error` with reason `idle`
   * (`child session idle for <n> ms`). @default no limit
   */
  idleTimeoutMs?: number | undefined;
  /**
   * How long a cancelled run waits for a store call already in flight (a load or a save) before
   * it ends without it, so a store that never answers cannot hold a slot or `stop()`.
   * Milliseconds. @default 1000
   */
  cancelGraceMs?: number | undefined;
  /** Deepest child `spawnChild` creates (a root session is depth 0). @default 4 */
  maxDepth?: number | undefined;
  /**
   * The clock of every timer (heartbeats, timeouts): XState's `Clock`. Tests pass
   * `new SimulatedClock()` or `createTestClock()` from the testing entry. @default the system clock
   */
  clock?: Clock | undefined;
  /**
   * XState inspection observer for the scheduler actor and every job actor, e.g.
   * `createBrowserInspector().inspect` from `@statelyai/inspect`. @default undefined
   */
  inspect?: Observer<InspectionEvent> | ((event: InspectionEvent) => void) | undefined;
  /**
   * The log behind `events()` (assigns `seq`, keeps the replay tail). @default a `SqliteEventLog`
   * in the same file when `store` is a `SqliteSessionStore`, else a `MemoryEventLog`
   */
  eventLog?: EventLog | undefined;
  /** Events retained per session for replay. @default 1000 */
  eventRetention?: number | undefined;
  /** Ended runs kept in memory for `getChild` / `waitForChildren` (older ones are read from the store). @default 10000 */
  retainEndedRuns?: number | undefined;
  /**
   * Ignored since agent trees: every session's agent events are published on its own stream and
   * forwarded up the tree (see docs/guides/agent-trees.md). Accepted so older options still work.
   * @deprecated @default false
   */
  mirrorChildEvents?: boolean | undefined;
  /**
   * What a child's run does when its parent's run ends `cancelled` or `error` (timeouts
   * included), unless its spawn says otherwise (`onParentEnd` of the brief or the job): `cancel`
   * it with reason `parent`, or `abandon` it to run on. A parent that ends `completed` leaves its
   * children running either way. @default 'cancel'
   */
  onParentEnd?: 'cancel' | 'abandon' | undefined;
  /**
   * What `start()` does with runs a crash left `running` / `pending` in the store: end them as
   * `error` with reason `interrupted`, or `'requeue'` them. @default 'interrupt'
   */
  recover?: 'interrupt' | 'requeue' | undefined;
  /** Id generator for runs and spawned children. @default crypto.randomUUID */
  createId?: (() => string) | undefined;
  /** Called with every diagnostic (they also go to `diagnostics$`); a hook that throws is ignored. @default undefined */
  onDiagnostic?: ((diagnostic: SchedulerDiagnostic) => void) | undefined;
}
