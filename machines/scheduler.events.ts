import { z } from 'zod';
import type { CompletionReason } from './agent-event.events.js';
import type { JobLimits, SpawnJob, SpawnJobOutput } from './spawn-job.events.js';

/**
 * The numeric limits of a scheduler, with their defaults (DESIGN §2).
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
  heartbeatIntervalMs: z.number().int().min(1).default(5000),
  /** Wall-clock limit of one run (reason `timeout`). @default none */
  maxRunMs: z.number().int().min(1).optional(),
  /** Limit without any child event (reason `idle`). @default none */
  idleTimeoutMs: z.number().int().min(1).optional(),
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
}

/** An `enqueue` call still waiting for room in the queue. */
export interface WaitingEnqueue extends QueuedRun {
  requestId: string;
}

/** A spawned job actor. `counted` is false for runs cancelled before they ran. */
export interface ActiveRun {
  runId: string;
  job: SpawnJob;
  slot: string;
  counted: boolean;
}

/** How `stop` treats running jobs: `drain` lets them finish, `cancel` cancels them. */
export type StopMode = 'drain' | 'cancel';

/** Input of the scheduler machine. */
export interface SchedulerInput {
  concurrency: number;
  perParentConcurrency: number;
  queueCapacity: number;
  jobLimits: JobLimits;
}

/** Context of the scheduler machine. */
export interface SchedulerContext extends SchedulerInput {
  queue: QueuedRun[];
  waiting: WaitingEnqueue[];
  /** Spawned job actors by actor id (slot). */
  active: Record<string, ActiveRun>;
  /** Slot of the active run of each child session (one run per child). */
  activeByChild: Record<string, string>;
  running: number;
  perParent: Record<string, number>;
  /** Job actor ids free for reuse: ids are recycled so XState's per-id caches stay bounded. */
  freeSlots: string[];
  slotCount: number;
  stopMode?: StopMode | undefined;
}

/** Events the scheduler machine accepts. */
export type SchedulerEvent =
  | { type: 'scheduler.enqueue'; requestId: string; runId: string; job: SpawnJob; title?: string | undefined }
  | { type: 'scheduler.cancel'; childSessionIds: readonly string[]; reason: CompletionReason }
  | { type: 'scheduler.stop'; mode: StopMode }
  | { type: `xstate.done.actor.${string}`; output: SpawnJobOutput; actorId: string }
  | { type: `xstate.error.actor.${string}`; error: unknown; actorId: string };
