/**
 * The public types of the scheduler's inputs and results, written out as documented interfaces.
 * They are the one definition: `src/scheduler/` implements them and imports them from here.
 * `test/package/public-types.types.test.ts` checks at type level that each one matches the zod
 * schema or the run-status vocabulary it stands for, so they cannot drift.
 */
import type { CompletionReason } from './wire-types.js';

/**
 * A request to run one child session under its parent: what `scheduler.enqueue` takes. The child
 * session must already be saved in the store, with `kind: 'child'`, `parent_session_id` set to
 * the parent, and a `user` message last.
 *
 * @example
 * const job: SpawnJob = { parentSessionId: 'root', childSessionId: 'child-1', model: 'gpt-4o' };
 * const { runId } = await scheduler.enqueue(job);
 */
export interface SpawnJob {
  /** The parent session: its stream receives the run's events. Non-empty. */
  parentSessionId: string;
  /** The child session to run. Non-empty. */
  childSessionId: string;
  /** The model this run uses (passed to the agent as `request.model`). Non-empty. */
  model: string;
  /**
   * What this run does when its parent's run ends `cancelled` or `error` (timeouts included):
   * `cancel` it (reason `parent`) or `abandon` it to run on. @default the scheduler's `onParentEnd` (`'cancel'`)
   */
  onParentEnd?: OnParentEnd | undefined;
}

/** What a child's run does when its parent's run ends `cancelled` or `error`: `cancel` (reason `parent`) or `abandon`. */
export type OnParentEnd = 'cancel' | 'abandon';

/**
 * What a parent asks a child to do: what `scheduler.spawnChild` takes. The child session gets a
 * system message (from `responsibility` / `subagentType`) and a user message (the `prompt`).
 *
 * @example
 * await scheduler.spawnChild('root', { title: 'Research', prompt: 'Find three sources on X', model: 'gpt-4o-mini' });
 */
export interface SpawnBrief {
  /** Title of the child session (1–500 characters); also on `sub_session_started`. */
  title: string;
  /** The task: becomes the child's user message. Non-empty. */
  prompt: string;
  /** What the child is responsible for; goes into its system message. */
  responsibility?: string | undefined;
  /** A label for the kind of sub-agent (e.g. `researcher`); goes into its system message. */
  subagentType?: string | undefined;
  /** The child's model. @default the parent session's `model` */
  model?: string | undefined;
  /** What the child's run does when the parent's run ends `cancelled` or `error`. @default the scheduler's `onParentEnd` (`'cancel'`) */
  onParentEnd?: OnParentEnd | undefined;
}

/**
 * Options of `scheduler.enqueue`.
 *
 * @example
 * await scheduler.enqueue(job, { runId: 'run-42', title: 'Research' });
 */
export interface EnqueueOptions {
  /** The run's id (unique across the deployment). @default a new id from `createId` */
  runId?: string | undefined;
  /** The title on the run's `sub_session_started`. @default none */
  title?: string | undefined;
  /**
   * The job is a root session's own run, as it is (no new message): `parentSessionId` must be
   * `''` and the session a root. @default false
   */
  root?: boolean | undefined;
  /**
   * The links of the tree above the job's parent, parent first, for sessions whose runs this
   * scheduler does not hold (a distributed worker running a grandchild whose parent runs on
   * another worker): while the run is queued or running, an event that reaches the stream of
   * `ancestors[i].sessionId` is forwarded to `ancestors[i].parentSessionId`'s stream wrapped in
   * `sub_session_event` under `ancestors[i].runId`, as if that session's run ran here. A session
   * whose run this scheduler holds is forwarded as its own ledger says (the links are not used
   * for it), and forwarding still stops after `maxDepth` hops or at a cycle. The chain must start
   * at `job.parentSessionId` and go up one parent per link; not with `root: true`.
   * @default [] (forward only what this scheduler's own runs link)
   *
   * @example
   * // D runs here; its parent C runs elsewhere (run 'run-c') under the root R.
   * await scheduler.enqueue(
   *   { parentSessionId: 'C', childSessionId: 'D', model: 'm' },
   *   { ancestors: [{ sessionId: 'C', parentSessionId: 'R', runId: 'run-c' }] },
   * );
   */
  ancestors?: readonly AncestorLink[] | undefined;
}

/**
 * One link of a tree above a run (see `EnqueueOptions.ancestors`): `sessionId`'s stream is
 * forwarded to its parent `parentSessionId`'s stream under `sessionId`'s run `runId`.
 */
export interface AncestorLink {
  /** A session above the run. Non-empty. */
  sessionId: string;
  /** Its parent. Non-empty (a root has no link). */
  parentSessionId: string;
  /** The session's current run: the `run_id` of the `sub_session_event` that wraps its stream's events. Non-empty. */
  runId: string;
}

/** What `scheduler.enqueue` resolves with. */
export interface EnqueueResult {
  /** The run's id (on every event of the run). */
  runId: string;
  /** Set when the child already had a queued or running run: that run's id is returned and nothing is published. */
  deduplicated?: true;
}

/** What `scheduler.spawnChild` resolves with. */
export interface SpawnChildResult {
  /** Id of the new child session (saved in the store). */
  childSessionId: string;
  /** Id of its run (on every event of the run). */
  runId: string;
}

/**
 * When `waitForChildren` resolves: `all` — every child ended; `any` — at least one ended;
 * `first-error` — one ended in `error`, or all ended.
 */
export type WaitPolicy = 'all' | 'any' | 'first-error';

/** Options of `scheduler.waitForChildren`. */
export interface WaitForChildrenOptions {
  /** When to resolve. @default 'all' */
  policy?: WaitPolicy;
  /**
   * The children to wait for (each child's run at the time of the call, or the first one that
   * shows up). @default the parent's children whose run is queued or running at the time of the call
   */
  childSessionIds?: readonly string[];
}

/** Options of `scheduler.stop`. */
export interface StopOptions {
  /**
   * `drain` lets running jobs finish; `cancel` cancels them (reason `shutdown`). Queued runs end
   * `cancelled` (reason `shutdown`) in both modes. @default 'drain'
   */
  mode?: StopMode;
}

/** How `stop` treats running jobs: `drain` lets them finish, `cancel` cancels them. */
export type StopMode = 'drain' | 'cancel';

/** Options of `scheduler.events`. */
export interface EventsOptions {
  /**
   * Replay the retained events with a larger `seq` first, then go live. A value older than what
   * is retained gets a `stream_truncated` event first. @default live events only
   */
  afterSeq?: number;
}

/** Where a run is: `queued`, `running`, or how it ended. */
export type RunStatus = 'queued' | 'running' | 'completed' | 'error' | 'cancelled' | 'skipped';

/**
 * One child's run in a `waitForChildren` result.
 *
 * @example
 * const [summary] = await scheduler.waitForChildren('root');
 * if (summary?.status === 'completed') console.log(summary.result);
 */
export interface ChildRunSummary {
  /** The child session. */
  childSessionId: string;
  /** The run the summary is about. */
  runId: string;
  /** Where that run is (ended, unless the policy resolved before it ended). */
  status: RunStatus;
  /** What went wrong, for `error` (and `skipped`). */
  error?: string | undefined;
  /** The child's final answer (at most 4000 characters), for `completed`. */
  result?: string | undefined;
}

/**
 * What `scheduler.getChild` returns: the child's latest run. While the scheduler holds the run
 * (queued, running, or among the last `retainEndedRuns` ended ones) every field is filled in;
 * for an older run it is read from the stored session (`last_run_status`, `last_run_id`,
 * `last_run_error`, the final answer) and has no timestamps, no `reason` and `eventsSeen: 0`.
 *
 * @example
 * const child = await scheduler.getChild(childSessionId);
 * console.log(child?.status, child?.eventsSeen, child?.result);
 */
export interface ChildStatus extends ChildRunSummary {
  /** The child session. */
  childSessionId: string;
  /** The run the status is about (the child's latest). */
  runId: string;
  /** Where that run is. */
  status: RunStatus;
  /** What went wrong, for `error` (and `skipped`). */
  error?: string | undefined;
  /** The child's final answer (at most 4000 characters), for `completed`. */
  result?: string | undefined;
  /** The parent session. */
  parentSessionId: string;
  /** Why the run ended that way (`user`, `parent`, `timeout`, `idle`, …), when it says. */
  reason?: CompletionReason;
  /** The child's title. */
  title?: string;
  /** When the run was queued (RFC 3339 UTC). */
  enqueuedAt?: string;
  /** When it started running (RFC 3339 UTC). */
  startedAt?: string;
  /** When it ended (RFC 3339 UTC). */
  endedAt?: string;
  /** How many events the child emitted in this run. */
  eventsSeen: number;
  /** When the child last emitted an event (RFC 3339 UTC). */
  lastEventAt?: string;
}

/**
 * What `scheduler.start()` did with the runs a crash left behind (see `start()`).
 *
 * @example
 * const { interrupted, requeued } = await scheduler.start();
 */
export interface RecoveryReport {
  /** Children whose run was ended as `error` with reason `interrupted`. */
  interrupted: string[];
  /** Children queued again (`recover: 'requeue'`); their interrupted run was closed first. */
  requeued: string[];
  /**
   * Children whose run's end was known on one side only, made to agree: a run that had saved its
   * end but not published it (the process died in between) got the saved outcome published; a
   * child whose stored status was stale though its parent's stream has the run's completion (a
   * failed final save, a stop that ended it queued) got that outcome saved (nothing published,
   * nothing re-queued).
   */
  completed: string[];
  /** Children recovery could not handle (see `diagnostics$`). */
  failed: string[];
}

/** A problem outside any run's own outcome, reported on `scheduler.diagnostics$` (see its members' `kind`). */
export type { SchedulerDiagnostic } from './scheduler-diagnostic.js';
