import type { Observable } from 'rxjs';
import type { ActorRefFrom } from 'xstate';
import type { CompletionReason, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SchedulerInput } from '../../machines/scheduler.events.js';
import type { SpawnBrief, SpawnJob } from '../../machines/spawn-job.events.js';
import type { ChildStatus } from './child-status.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import type { RecoveryReport } from './recover-interrupted-runs.js';
import type { ChildRunSummary, WaitPolicy } from './wait-for-children.js';

/** What `enqueue` resolves with. */
export interface EnqueueResult {
  runId: string;
  /** True when the child already had a queued or running run: that run is returned. */
  deduplicated?: true;
}

/** Options of `waitForChildren`. */
export interface WaitForChildrenOptions {
  /** @default 'all' */
  policy?: WaitPolicy;
  /** @default the parent's children whose run is queued or running at the time of the call */
  childSessionIds?: readonly string[];
}

/** The scheduler (DESIGN §2). */
export interface SpawnScheduler {
  /** The scheduler's XState actor, for embedding and inspection. */
  readonly actor: ActorRefFrom<typeof schedulerMachine>;
  /**
   * The provided scheduler machine, to embed in a bigger XState system (`invoke` / `spawn` it
   * with {@link SpawnScheduler.input}); its runs publish to the same `events()` streams.
   */
  readonly logic: typeof schedulerMachine;
  /** The input the scheduler machine was created with. */
  readonly input: SchedulerInput;
  /** Problems outside any run's outcome (subscriber errors, late agent events, …). */
  readonly diagnostics$: Observable<SchedulerDiagnostic>;
  /** Starts the actor and recovers runs a crash left behind. Resolves when recovery is done. */
  start(): Promise<RecoveryReport>;
  /** Resolves when every job has ended. `drain` lets running jobs finish, `cancel` cancels them. */
  stop(options?: { mode?: 'drain' | 'cancel' }): Promise<void>;
  enqueue(job: SpawnJob): Promise<EnqueueResult>;
  spawnChild(parentSessionId: string, brief: SpawnBrief): Promise<{ childSessionId: string; runId: string }>;
  events(sessionId: string, options?: { afterSeq?: number }): Observable<SessionEventEnvelope>;
  /** Cancels the queued or running run of a child. Resolves true when there was one. */
  cancel(childSessionId: string, reason?: CompletionReason): Promise<boolean>;
  /** Cancels every queued or running descendant. Resolves with how many runs were cancelled. */
  cancelTree(sessionId: string): Promise<number>;
  /** Cancels a session's runs and descendants (reason `deleted`), then deletes it from the store. */
  deleteSession(sessionId: string): Promise<boolean>;
  getChild(childSessionId: string): Promise<ChildStatus | undefined>;
  waitForChildren(parentSessionId: string, options?: WaitForChildrenOptions): Promise<ChildRunSummary[]>;
}
