import { z } from 'zod';
import type { CompletionReason } from './agent-event.events.js';
import type { RunQueue, WaitingList } from './scheduler.queue.js';
import type { HaltedSessions, LineageLink } from './scheduler.tree.js';

export type { LineageLink } from './scheduler.tree.js';
import type { JobLimits, SpawnJob, SpawnJobInput, SpawnJobOutput } from './spawn-job.events.js';

/**
 * The longest delay a timer can take: 2³¹ − 1 ms (about 24.8 days). Node and browsers fire a
 * longer timer after ~1 ms, so longer limits are refused, never silently shortened.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The numeric limits of a scheduler, with their defaults (README.md, "Public API").
 *
 * @example
 * schedulerLimitsSchema.parse({ concurrency: 4 }); // fills in every other default
 */
export const schedulerLimitsSchema = z.strictObject({
  /** Max jobs in flight at once. @default 16 */
  concurrency: z.number().int().min(1).max(1_000_000).default(16),
  /** Max jobs in flight for one parent. @default 8 */
  perParentConcurrency: z.number().int().min(1).max(1_000_000).default(8),
  /** Max queued jobs; `enqueue` waits for room beyond it. @default 128 */
  queueCapacity: z.number().int().min(1).max(10_000_000).default(128),
  /** Heartbeat period; the first one is published as running begins. @default 5000 */
  heartbeatIntervalMs: z.number().int().min(1).max(MAX_TIMER_MS).default(5000),
  /** Wall-clock limit of one run, every phase from `loading` on (reason `timeout`). @default none */
  maxRunMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
  /** Limit without any child event (reason `idle`). @default none */
  idleTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
  /**
   * How long a cancelled run waits for a store call already in flight (a load or save) before it
   * ends without it, so a store that never answers cannot hold a slot or `stop()`. @default 1000
   */
  cancelGraceMs: z.number().int().min(0).max(MAX_TIMER_MS).default(1000),
  /** Deepest allowed child (root = 0). @default 4 */
  maxDepth: z.number().int().min(0).max(1000).default(4),
});
/** Parsed scheduler limits. */
export type SchedulerLimits = z.infer<typeof schedulerLimitsSchema>;

/** A run waiting in the queue (or for room in it). */
export interface QueuedRun {
  runId: string;
  job: SpawnJob;
  title?: string | undefined;
  /**
   * The ancestors of the run's session, parent first, up to the root. @default the parent alone
   * (`[{ sessionId: job.parentSessionId, abandons: false }]`; none for a root's own run)
   */
  lineage?: readonly LineageLink[] | undefined;
}

/** An `enqueue` call still waiting for room in the queue. */
export interface WaitingEnqueue extends QueuedRun {
  requestId: string;
}

/**
 * A spawned job actor. `counted` is true while it holds a slot (counts toward the limits): false
 * for runs spawned already cancelled and while the run waits for its children (`waiting`).
 */
export interface ActiveRun {
  runId: string;
  job: SpawnJob;
  slot: string;
  counted: boolean;
  /** True from `scheduler.yield` until the run holds a slot again. */
  waiting?: boolean | undefined;
  lineage?: readonly LineageLink[] | undefined;
}

/** How `stop` treats running jobs: `drain` lets them finish, `cancel` cancels them. */
export type StopMode = 'drain' | 'cancel';

/** Input of the scheduler machine. */
export interface SchedulerInput {
  concurrency: number;
  perParentConcurrency: number;
  queueCapacity: number;
  jobLimits: JobLimits;
  /**
   * Job actors per lane. The first `laneSize` job actors (`job-0` … `job-<laneSize - 1>`) are the
   * scheduler's own children; later ones are children of lane actors (`lane-0`, `lane-1`, …, each
   * holding `laneSize` slots), because XState copies an actor's children on every spawn and stop
   * (O(alive jobs) per job with all of them under the scheduler). @default 64 (`JOB_LANE_SIZE`)
   */
  laneSize?: number | undefined;
  /**
   * Whether a session whose run ended `cancelled` / `error` (or that was cancelled) stays halted in
   * this scheduler until it is asked to run again, so children spawned under it later end
   * `cancelled` (reason `parent`) without running. Its end still cancels the runs in flight below
   * it either way. `false` for a scheduler that is one of several over shared storage (a
   * distributed worker): there the deployment keeps the halt marks, and a new run of the session
   * on another process clears them, which this scheduler would never see. @default true
   */
  rememberHalts?: boolean | undefined;
}

/**
 * Context of the scheduler machine. Each actor's context factory creates its own collections, and
 * the plans (`scheduler.plan.ts`) update them in place, so a spawn or a job end costs O(1) instead
 * of a copy of every collection. They stay readable: `queue` and `waiting` read like arrays
 * (`length`, iteration, `map`, `toJSON()` → the runs in order) and the records are plain
 * prototype-less objects, so an inspector or `JSON.stringify` shows them as before. A snapshot is
 * therefore a live view: to branch one snapshot into two futures with XState's pure
 * `transition`, give each branch its own copy (`cloneSchedulerContext`).
 */
export interface SchedulerContext extends SchedulerInput {
  laneSize: number;
  /** Queued runs, FIFO, with one FIFO per parent so dispatch never scans runs of parents at their limit. */
  queue: RunQueue<QueuedRun>;
  /** `enqueue` calls waiting for room in the queue, oldest first. */
  waiting: WaitingList<WaitingEnqueue>;
  /** Spawned job actors by actor id (slot). Id-keyed records have no prototype (`idRecord`). */
  active: Record<string, ActiveRun>;
  /** Slot of the active run of each child session (one run per child). */
  activeByChild: Record<string, string>;
  /** Slot of each active run, by run id. */
  slotOfRun: Record<string, string>;
  /** Active runs that count toward the limits (not the ones spawned already cancelled). */
  running: number;
  perParent: Record<string, number>;
  /** Job actor ids free for reuse: ids are recycled so XState's per-id caches stay bounded. */
  freeSlots: string[];
  /** Slot ids created so far (`job-0` … `job-<slotCount - 1>`); the ones not free are active. */
  slotCount: number;
  stopMode?: StopMode | undefined;
  /** Active runs waiting for their children (they hold no slot). */
  waitingRuns: number;
  /** Slots of waiting runs whose wait is over, in order: they take a slot again before any queued run. */
  resuming: string[];
  /** Sessions whose end reached (or will reach) their subtree: nothing new starts under them. */
  halted: HaltedSessions;
  /** The child sessions with a run in flight below each session (every ancestor of every run). */
  subtree: Map<string, Set<string>>;
  /** Slots whose job the scheduler told to cancel (a later cancel changes nothing). */
  cancelling: Set<string>;
}

/** Events the scheduler machine accepts. */
export type SchedulerEvent =
  | {
      type: 'scheduler.enqueue';
      requestId: string;
      runId: string;
      job: SpawnJob;
      title?: string | undefined;
      lineage?: readonly LineageLink[] | undefined;
    }
  /**
   * Cancels the runs of these sessions. With reason `user` or `deleted` each session is also
   * halted and its end reaches its subtree (descendants with `onParentEnd: 'cancel'`, reason `parent`).
   */
  | { type: 'scheduler.cancel'; childSessionIds: readonly string[]; reason: CompletionReason }
  /** Halts a session and cancels every run in flight below it (reason `parent`), whatever their policy. */
  | { type: 'scheduler.cancelTree'; sessionId: string }
  /** A running run waits for its children: it gives its slot back. */
  | { type: 'scheduler.yield'; runId: string }
  /** A waiting run's wait is over: it takes a slot again, ahead of queued runs. */
  | { type: 'scheduler.resume'; runId: string }
  | { type: 'scheduler.stop'; mode: StopMode }
  /** Drop runs whose `sub_session_started` could not be written (their enqueue was rejected). */
  | { type: 'scheduler.discard'; runIds: readonly string[] }
  | { type: `xstate.done.actor.${string}`; output: SpawnJobOutput; actorId: string }
  | { type: `xstate.error.actor.${string}`; error: unknown; actorId: string }
  /** A lane's job actor reached its final state (forwarded by the lane). */
  | { type: 'lane.jobDone'; slot: string; output: SpawnJobOutput }
  /** A lane's job actor crashed (forwarded by the lane). */
  | { type: 'lane.jobError'; slot: string; error: unknown };

/** What the scheduler asks a job actor held by a lane. */
export type LaneJobEvent =
  { type: 'job.cancel'; reason: CompletionReason } | { type: 'job.discard' } | { type: 'job.wait' } | { type: 'job.resume' };

/** Events a lane actor accepts (from its scheduler, and from its job actors). */
export type SchedulerLaneEvent =
  | { type: 'lane.spawn'; slot: string; input: SpawnJobInput }
  | { type: 'lane.send'; slot: string; event: LaneJobEvent }
  | { type: 'lane.stop'; slot: string }
  /** The stop protocol's `job.abandon`, passed on to every job actor of the lane. */
  | { type: 'job.abandon' }
  | { type: `xstate.done.actor.${string}`; output: SpawnJobOutput; actorId: string }
  | { type: `xstate.error.actor.${string}`; error: unknown; actorId: string };
