import type { Observable } from 'rxjs';
import type { ActorRefFrom } from 'xstate';
import type { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SchedulerInput } from '../../machines/scheduler.events.js';
import type {
  ChildRunSummary,
  ChildStatus,
  EnqueueOptions,
  EnqueueResult,
  EventsOptions,
  RecoveryReport,
  SchedulerDiagnostic,
  SpawnBrief,
  SpawnChildResult,
  SpawnJob,
  StopOptions,
  WaitForChildrenOptions,
} from './scheduler-types.js';
import type { CompletionReason, SessionEventEnvelope } from './wire-types.js';

/** What `run(sessionId, input)` takes: the user message to append, and optionally a model for this and later runs. */
export interface RunInput {
  /** The user message (1 to 1,000,000 characters). */
  message: string;
  /** The model of the session from now on. @default the session's `model` */
  model?: string | undefined;
}

/**
 * The spawn scheduler (README.md, "Public API"), made by `createSpawnScheduler`. Nothing runs until
 * {@link SpawnScheduler.start}; {@link SpawnScheduler.stop} ends it for good.
 *
 * @example
 * const scheduler = createSpawnScheduler({ store, agent });
 * await scheduler.start();
 * scheduler.events('root').subscribe(({ seq, event }) => console.log(seq, event.type));
 * await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find three sources on X' });
 * const summaries = await scheduler.waitForChildren('root');
 * await scheduler.stop();
 */
export interface SpawnScheduler {
  /**
   * The scheduler's XState actor (`ActorRef`), for inspection and for sending it the scheduler
   * events (`scheduler.enqueue`, `scheduler.cancel`, `scheduler.stop`).
   *
   * @example
   * scheduler.actor.subscribe((snapshot) => console.log(snapshot.context.running, 'running'));
   */
  readonly actor: ActorRefFrom<typeof schedulerMachine>;
  /**
   * The provided scheduler machine, to embed in a bigger XState system (`invoke` / `spawn` it
   * with {@link SpawnScheduler.input}); its runs publish to the same `events()` streams.
   *
   * @example
   * const parent = setup({ actors: { spawner: scheduler.logic } }).createMachine({
   *   invoke: { id: 'spawner', src: 'spawner', input: scheduler.input },
   * });
   */
  readonly logic: typeof schedulerMachine;
  /** The input the scheduler machine was created with (limits and per-run time limits). */
  readonly input: SchedulerInput;
  /**
   * Problems outside any run's outcome (a subscriber threw, an agent emitted after its run
   * ended, recovery failed, …). Hot: subscribe before `start()` to see recovery problems.
   *
   * @example
   * scheduler.diagnostics$.subscribe((d) => console.warn('sprout diagnostic:', d.kind));
   */
  readonly diagnostics$: Observable<SchedulerDiagnostic>;
  /**
   * Starts the scheduler actor, then ends the runs a crash left `running` / `pending` in the store
   * (`error`, reason `interrupted`), or queues them again with `recover: 'requeue'`. Resolves
   * with what it did. Work submitted meanwhile waits for recovery to finish.
   *
   * @example
   * const { interrupted } = await scheduler.start();
   */
  start(): Promise<RecoveryReport>;
  /**
   * Stops taking work and resolves when every job has ended. `drain` (default) lets running jobs
   * finish; `cancel` cancels them (reason `shutdown`). Queued runs end `cancelled` (reason
   * `shutdown`) in both modes. Later `enqueue` / `spawnChild` calls reject with `SchedulerStoppedError`.
   *
   * @example
   * process.once('SIGINT', () => void scheduler.stop({ mode: 'cancel' }));
   */
  stop(options?: StopOptions): Promise<void>;
  /**
   * Queues a run of an existing child session. Publishes `sub_session_started` on the parent and
   * resolves `{ runId }` once queued; a child that already has a queued or running run resolves
   * `{ runId, deduplicated: true }` with that run and publishes nothing. Waits while the queue is
   * full. Rejects with `SproutValidationError` for bad input and `SchedulerStoppedError` when
   * the scheduler is not running. `options.runId` gives the run its id (a deployment that hands
   * out run ids itself, such as a distributed worker running a queued run); with `root: true`,
   * a job whose `parentSessionId` is `''` runs a root session as it is (no parent, no per-parent
   * limit).
   *
   * @example
   * const { runId, deduplicated } = await scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'child-1', model: 'gpt-4o' });
   */
  enqueue(job: SpawnJob, options?: EnqueueOptions): Promise<EnqueueResult>;
  /**
   * Sends a user message to any session, root or child, and runs its agent through the same job
   * machine and limits as a spawned child. Resolves `{ runId }` once the run is queued. A root's
   * run publishes its agent's events (`token`, `reasoning_token`, `tool_start`, `tool_complete`…)
   * on the root's own stream and ends with exactly one terminal `complete` or `error` there; a
   * child's run also reports to its parent (`sub_session_*`). Agents get the scheduler as
   * `request.spawner`, so a root agent can grow a tree. Rejects with `SessionBusyError` (nothing
   * appended) while the session has a queued or running run, `SessionNotFoundError` for an
   * unknown session, `SproutValidationError` for bad input, `SchedulerStoppedError` when stopped.
   *
   * @example
   * const { runId } = await scheduler.run('root', { message: 'Research three vendors and compare them' });
   * scheduler.events('root', { afterSeq: 0 }).subscribe(({ event }) => console.log(event.type));
   */
  run(sessionId: string, input: RunInput): Promise<{ runId: string }>;
  /**
   * Creates a child session of `parentSessionId` from a brief (`kind: 'child'`, depth = parent +
   * 1, a system and a user message, `last_run_status: 'pending'`), saves it and queues its run.
   * Rejects, saving nothing, with `SessionNotFoundError` for a missing parent,
   * `SpawnDepthExceededError` beyond `maxDepth`, `SproutValidationError` for a bad brief.
   *
   * @example
   * const { childSessionId, runId } = await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find three sources on X' });
   */
  spawnChild(parentSessionId: string, brief: SpawnBrief): Promise<SpawnChildResult>;
  /**
   * The session's event stream: live events, and with `afterSeq` the retained events after that
   * sequence number first (preceded by `stream_truncated` if some were already dropped). Events
   * published while nobody listens are retained for replay. A subscriber that throws is reported
   * on `diagnostics$` and disturbs nobody else.
   *
   * @example
   * const subscription = scheduler.events('root', { afterSeq: 0 }).subscribe(({ seq, event }) => console.log(seq, event.type));
   */
  events(sessionId: string, options?: EventsOptions): Observable<SessionEventEnvelope>;
  /**
   * Cancels the queued or running run of a child (status `cancelled`, with this reason). Resolves
   * `true` when there was one.
   *
   * @example
   * await scheduler.cancel(childSessionId); // reason 'user'
   */
  cancel(childSessionId: string, reason?: CompletionReason): Promise<boolean>;
  /**
   * Cancels every queued or running descendant of a session (reason `parent`). Resolves with how
   * many runs were cancelled.
   *
   * @example
   * const cancelled = await scheduler.cancelTree('root');
   */
  cancelTree(sessionId: string): Promise<number>;
  /**
   * Cancels a session's own run and its descendants' (reason `deleted`), waits for its own run to
   * end, then deletes it from the store. Resolves with what the store's `delete` returned.
   *
   * @example
   * await scheduler.deleteSession(childSessionId);
   */
  deleteSession(sessionId: string): Promise<boolean>;
  /**
   * A child's latest run: status, run id, timestamps, `eventsSeen`, error, reason and final
   * answer; `undefined` for an unknown session. For a run the scheduler no longer holds, read from
   * the stored session (status, run id, error, answer only; see {@link ChildStatus}).
   *
   * @example
   * const child = await scheduler.getChild(childSessionId);
   * if (child?.status === 'completed') console.log(child.result);
   */
  getChild(childSessionId: string): Promise<ChildStatus | undefined>;
  /**
   * Resolves with `{ childSessionId, runId, status, error?, result? }` per child once the policy
   * holds for those children (default: `all` of the parent's children whose run is queued or
   * running at the time of the call). Rejects with `UnknownChildError` for a named child that
   * the scheduler and the store do not know.
   *
   * @example
   * const summaries = await scheduler.waitForChildren('root', { policy: 'first-error' });
   */
  waitForChildren(parentSessionId: string, options?: WaitForChildrenOptions): Promise<ChildRunSummary[]>;
}

/**
 * The SpawnScheduler API both deployments serve, the same methods with the same contract: the
 * embedded scheduler (`createSpawnScheduler`) and the distributed front door
 * (`createDistributedScheduler`, whose `run` and `spawnChild` are the same code, `src/core/`).
 * Code written against it (the HTTP server, a CLI, an agent's tools) runs on either.
 *
 * @example
 * async function research(scheduler: SpawnSchedulerApi): Promise<void> {
 *   const { childSessionId } = await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find X' });
 *   await scheduler.waitForChildren('root', { childSessionIds: [childSessionId] });
 * }
 */
export type SpawnSchedulerApi = Pick<
  SpawnScheduler,
  'run' | 'enqueue' | 'spawnChild' | 'events' | 'cancel' | 'cancelTree' | 'deleteSession' | 'getChild' | 'waitForChildren'
>;
