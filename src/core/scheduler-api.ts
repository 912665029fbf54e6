import type { Observable } from 'rxjs';
import type { CompletionReason, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { ROOT_PARENT, spawnBriefSchema, spawnJobSchema, type OnParentEnd, type SpawnJob } from '../../machines/spawn-job.events.js';
import type { MaybePromise, SessionStore } from '../api/ports.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import type { AncestorLink, ChildRunSummary, ChildStatus, EnqueueResult } from '../api/scheduler-types.js';
import type { SpawnSchedulerApi } from '../api/spawn-scheduler.js';
import type { SproutClock } from '../clock.js';
import { SessionNotFoundError, SproutValidationError } from '../errors.js';
import { assertWellFormed } from '../well-formed-text.js';
import { checkAncestorChain } from './ancestor-chain.js';
import { loadValidSession } from './persist-run.js';
import { runSession } from './run-session.js';
import {
  cancelArgsSchema,
  enqueueOptionsSchema,
  eventsArgsSchema,
  parseArgs,
  rootEnqueueJobSchema,
  runInputSchema,
  sessionIdSchema,
  waitArgsSchema,
} from './scheduler-args.js';
import { spawnChild } from './spawn-child.js';

/** A `waitForChildren` policy. */
export type WaitPolicy = 'all' | 'any' | 'first-error';

/**
 * What one deployment of the scheduler provides, so that {@link createSchedulerApi} can serve the
 * SpawnScheduler API over it: the embedded scheduler (an XState actor and an in-process run
 * ledger) and the distributed front door (a BullMQ queue, Redis run ownership, PostgreSQL) each
 * provide one. `L` is what the deployment carries with a run about the runs above it (the
 * embedded scheduler's lineage, a distributed job's ancestor links).
 *
 * Every method is called with checked arguments: the API parses them first.
 */
export interface SchedulerDeployment<L> {
  store: SessionStore;
  clock: SproutClock;
  createId: () => string;
  /** Deepest child `spawnChild` creates (a root is depth 0). */
  maxDepth: number;
  /** The `onParentEnd` of a spawn or a job that does not say. */
  onParentEnd: OnParentEnd;
  /** Throws `SchedulerStoppedError` unless the deployment accepts work. */
  assertRunning: () => void;
  /** Resolves once the deployment is ready for work (start-up recovery done). */
  ready: () => Promise<unknown>;
  /** Sessions between `run`'s busy check and their enqueue (so two messages cannot both pass it). */
  starting: Map<string, string>;
  /** The session's queued or running run, if any (from the run-ownership records). */
  liveRunId: (sessionId: string) => MaybePromise<string | undefined>;
  /**
   * What a new run under `parentSessionId` carries about the runs above it. `parent` is the
   * parent as loaded (by `spawnChild`), `child` the session about to run (by `run`), when known.
   */
  lineage: (parentSessionId: string, known: { parent?: Session; child?: Session }) => MaybePromise<L>;
  /** The lineage of a run with nothing above it (a root's own run). */
  none: L;
  /** Remembers where a new child hangs in its tree (for its own children's lineage). */
  remember: (child: Session) => void;
  /** Queues a run under the given run id (the queueing adapter). */
  queue: (job: SpawnJob, title: string | undefined, runId: string, lineage: L) => Promise<EnqueueResult>;
  /** Queues a run of `enqueue(job, options)`: `ancestors` are the caller's links above the job's parent (checked, possibly empty). */
  queueLinked: (job: SpawnJob, title: string | undefined, runId: string, ancestors: readonly AncestorLink[]) => Promise<EnqueueResult>;
  /** True when the parent's stream (or the run records) announce a run of the child other than `plannedRunId`; optional. */
  announced?: (parentSessionId: string, childSessionId: string, plannedRunId: string) => Promise<boolean>;
  /** Refuses a spawn or a message's run (`run`) before anything is written (a full queue, a tree being deleted); optional. */
  admitSpawn?: (parentSessionId: string) => Promise<void>;
  /** The session's stream: with `afterSeq`, the retained events after it first (past the end: a validation error). */
  stream: (sessionId: string, afterSeq: number | undefined) => Observable<SessionEventEnvelope>;
  /** Cancels the child's queued or running run (and halts the session); `true` when there was something to cancel. */
  cancelRun: (childSessionId: string, reason: CompletionReason) => Promise<boolean>;
  /** Cancels the session's queued and running descendants (reason `parent`); resolves with how many runs. */
  cancelSubtree: (sessionId: string) => Promise<number>;
  /** Deletes the session (as the deployment documents: its stream, its runs' ends); whether it existed. */
  deleteSession: (sessionId: string) => Promise<boolean>;
  /** The child's latest run. */
  childStatus: (childSessionId: string) => Promise<ChildStatus | undefined>;
  /** Resolves once `policy` holds for the children (default: the parent's children with a live run). */
  waitFor: (parentSessionId: string, policy: WaitPolicy, childSessionIds: readonly string[] | undefined) => Promise<ChildRunSummary[]>;
  report: (diagnostic: SchedulerDiagnostic) => void;
}

/**
 * The SpawnScheduler API, written once, over a deployment's ports: every argument is parsed and
 * checked here (zod, well-formed Unicode), `run`, `spawnChild` and `enqueue` decide here (busy
 * checks, depth, lineage, the child saved before its run is queued and deleted when the queue
 * refuses it), and the deployment only queues, streams, cancels, deletes and waits. The embedded
 * scheduler and the distributed front door are this object over two deployments.
 *
 * @example
 * const api = createSchedulerApi(embeddedDeployment);
 * const { childSessionId } = await api.spawnChild('root', { title: 'Research', prompt: 'Find X' });
 */
export function createSchedulerApi<L>(d: SchedulerDeployment<L>): SpawnSchedulerApi {
  const whenReady = async (): Promise<void> => {
    d.assertRunning();
    await d.ready();
  };
  return {
    async enqueue(job, enqueueOptions) {
      const options = parseArgs(enqueueOptionsSchema, enqueueOptions ?? {}, 'enqueue options');
      assertWellFormed(options, 'enqueue options');
      if (options.root === true && (options.ancestors?.length ?? 0) > 0) {
        throw new SproutValidationError('enqueue options', [
          { code: 'custom', path: ['ancestors'], message: "a root's own run has no ancestors" },
        ]);
      }
      if (options.root === true) {
        // A root's own run, as it is: no parent, so no lineage and no parent-end policy.
        const rootJob = parseArgs(rootEnqueueJobSchema, job, 'root job');
        assertWellFormed(rootJob, 'root job');
        await whenReady();
        const root = await loadValidSession(d.store, rootJob.childSessionId);
        if (!root) throw new SessionNotFoundError(rootJob.childSessionId);
        if (root.kind !== 'root') {
          throw new SproutValidationError('root job', [
            { code: 'custom', path: ['childSessionId'], message: `session ${root.id} is not a root` },
          ]);
        }
        return d.queue({ ...rootJob, parentSessionId: ROOT_PARENT }, options.title, options.runId ?? d.createId(), d.none);
      }
      const parsed = parseArgs(spawnJobSchema, job, 'spawn job');
      assertWellFormed(parsed, 'spawn job');
      const links = options.ancestors ?? [];
      checkAncestorChain(parsed.parentSessionId, links);
      await whenReady();
      const queued = { ...parsed, onParentEnd: parsed.onParentEnd ?? d.onParentEnd };
      return d.queueLinked(queued, options.title, options.runId ?? d.createId(), links);
    },

    async spawnChild(parentSessionId, brief) {
      const parsedBrief = parseArgs(spawnBriefSchema, brief, 'spawn brief');
      assertWellFormed(parsedBrief, 'spawn brief');
      parseArgs(sessionIdSchema, parentSessionId, 'parent session id');
      await whenReady();
      await d.admitSpawn?.(parentSessionId);
      return spawnChild<L>(
        {
          store: d.store,
          clock: d.clock,
          maxDepth: d.maxDepth,
          createId: d.createId,
          assertRunning: d.assertRunning,
          onParentEnd: d.onParentEnd,
          lineage: (parentId, parent) => d.lineage(parentId, { parent }),
          remember: d.remember,
          // Asked only for a child whose run could not be queued: a store of live runs that is away
          // (Redis) cannot say, so the child's stored run (still the planned one) decides alone.
          isLive: async (id) => {
            try {
              return (await d.liveRunId(id)) !== undefined;
            } catch {
              return false;
            }
          },
          enqueue: d.queue,
          ...(d.announced === undefined ? {} : { announced: d.announced }),
          report: d.report,
        },
        parentSessionId,
        parsedBrief,
      );
    },

    async run(sessionId, input) {
      const id = parseArgs(sessionIdSchema, sessionId, 'run() session id');
      const parsed = parseArgs(runInputSchema, input, 'run() input');
      assertWellFormed(parsed, 'run() input');
      await whenReady();
      return runSession<L>(
        {
          store: d.store,
          clock: d.clock,
          createId: d.createId,
          onParentEnd: d.onParentEnd,
          liveRunId: d.liveRunId,
          starting: d.starting,
          lineage: (parentId, child) => d.lineage(parentId, { child }),
          none: d.none,
          enqueue: d.queue,
          ...(d.admitSpawn === undefined ? {} : { admit: d.admitSpawn }),
        },
        id,
        parsed,
      );
    },

    events(sessionId, eventOptions) {
      const { options } = parseArgs(eventsArgsSchema, { sessionId, options: eventOptions }, 'events() arguments');
      return d.stream(sessionId, options?.afterSeq);
    },

    async cancel(childSessionId, reason = 'user') {
      const args = parseArgs(cancelArgsSchema, { childSessionId, reason }, 'cancel() arguments');
      return d.cancelRun(args.childSessionId, args.reason);
    },

    async cancelTree(sessionId) {
      return d.cancelSubtree(parseArgs(sessionIdSchema, sessionId, 'cancelTree() session id'));
    },

    async deleteSession(sessionId) {
      return d.deleteSession(parseArgs(sessionIdSchema, sessionId, 'deleteSession() session id'));
    },

    async getChild(childSessionId) {
      return d.childStatus(parseArgs(sessionIdSchema, childSessionId, 'getChild() child session id'));
    },

    async waitForChildren(parentSessionId, waitOptions) {
      const args = parseArgs(waitArgsSchema, { parentSessionId, options: waitOptions }, 'waitForChildren() arguments');
      return d.waitFor(args.parentSessionId, args.options?.policy ?? 'all', args.options?.childSessionIds);
    },
  };
}
