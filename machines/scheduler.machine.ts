import { enqueueActions, setup, type AnyActorLogic } from 'xstate';
import type { LaneJobEvent, QueuedRun, SchedulerContext, SchedulerEvent, SchedulerInput, SchedulerLaneEvent } from './scheduler.events.js';
import { laneLogicFor } from './scheduler.lane.machine.js';
import {
  createSchedulerContext,
  isIdle,
  laneOfSlot,
  planCancel,
  planCancelTree,
  planDiscard,
  planEnqueue,
  planJobEnd,
  planResume,
  planStop,
  planYield,
  type Plan,
} from './scheduler.plan.js';
import { LOAD_ERROR_CODES, type SpawnJobOutput } from './spawn-job.events.js';
import { spawnJobMachine } from './spawn-job.machine.js';

/** Parameters of the runtime actions the scheduler machine calls. */
export interface SchedulerActionParams {
  recordAccepted: { run: QueuedRun };
  publishStarted: { run: QueuedRun };
  resolveEnqueue: { requestId: string; runId: string; deduplicated: boolean };
  rejectEnqueue: { requestId: string };
  jobEnded: { output: SpawnJobOutput | undefined; runId: string; slot: string };
  jobCrashed: { runId: string; parentSessionId: string; childSessionId: string; error: unknown };
  runResumed: { runId: string };
  reportStarved: { queued: number; resuming: number };
}

/**
 * The scheduler machine: owns the FIFO queue (capacity + backpressure), the global and
 * per-parent limits, de-duplication per child, cancel, stop, and the spawn-job children (one
 * inspector sees the whole system). Job actor ids are recycled slots (`job-0`, `job-1`, …), so
 * however many jobs pass through, XState keeps a bounded set of ids. Pure: the rules live in
 * `scheduler.plan.ts`; effects are named actions that `src/` provides. The bookkeeping is updated
 * in place (O(1) per spawn or job end, see `SchedulerContext`), so a snapshot is a live view of
 * its actor: branching one snapshot with `transition` needs `cloneSchedulerContext`.
 *
 * @example
 * const actor = createActor(schedulerMachine.provide({ actors: { spawnJob: providedJobMachine }, actions: {...} }), {
 *   input: { concurrency: 16, perParentConcurrency: 8, queueCapacity: 128, jobLimits: { heartbeatIntervalMs: 5000 } },
 * }).start();
 */
export const schedulerMachine = setup({
  types: {
    context: {} as SchedulerContext,
    events: {} as SchedulerEvent,
    input: {} as SchedulerInput,
  },
  actors: { spawnJob: spawnJobMachine },
  actions: {
    /** Runtime: record a run accepted while the queue is full (announced once it gets room). */
    recordAccepted: (_, _params: SchedulerActionParams['recordAccepted']) => {},
    /** Runtime: record the queued run and publish `sub_session_started` on the parent. */
    publishStarted: (_, _params: SchedulerActionParams['publishStarted']) => {},
    /** Runtime: resolve the `enqueue` call. */
    resolveEnqueue: (_, _params: SchedulerActionParams['resolveEnqueue']) => {},
    /** Runtime: reject the `enqueue` call (the scheduler is stopping). */
    rejectEnqueue: (_, _params: SchedulerActionParams['rejectEnqueue']) => {},
    /** Runtime: a job actor reached its final state. */
    jobEnded: (_, _params: SchedulerActionParams['jobEnded']) => {},
    /** Runtime: a job actor crashed; publish its completion if it could not. */
    jobCrashed: (_, _params: SchedulerActionParams['jobCrashed']) => {},
    /** Runtime: a waiting run holds a slot again (or has ended): its wait call may return. */
    runResumed: (_, _params: SchedulerActionParams['runResumed']) => {},
    /** Runtime: report `scheduler_starved` (runs wait for a slot and no run holds one). */
    reportStarved: (_, _params: SchedulerActionParams['reportStarved']) => {},
  },
  guards: {
    isDrained: ({ context }) => isIdle(context),
  },
}).createMachine({
  id: 'spawnScheduler',
  // Runs once per actor: each actor owns its collections, which the plans update in place.
  context: ({ input }) => createSchedulerContext(input),
  initial: 'accepting',
  on: {
    'scheduler.cancel': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        run(planCancel(context, new Set(event.childSessionIds), event.reason), enqueue, self);
      }),
    },
    'scheduler.cancelTree': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        run(planCancelTree(context, event.sessionId), enqueue, self);
      }),
    },
    'scheduler.yield': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        run(planYield(context, event.runId), enqueue, self);
      }),
    },
    'scheduler.resume': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        run(planResume(context, event.runId), enqueue, self);
      }),
    },
    'scheduler.discard': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        run(planDiscard(context, new Set(event.runIds)), enqueue, self);
      }),
      target: '.check',
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        if ('actorId' in event) jobEnded(context, event.actorId, { output: 'output' in event ? event.output : undefined }, enqueue, self);
      }),
      target: '.check',
    },
    'xstate.error.actor.*': {
      // A crashed job actor. (A crashed lane is not a slot: planJobEnd ignores it.)
      actions: enqueueActions(({ context, event, enqueue, self }) => {
        if ('actorId' in event) jobEnded(context, event.actorId, { error: 'error' in event ? event.error : undefined }, enqueue, self);
      }),
      target: '.check',
    },
    'lane.jobDone': {
      actions: enqueueActions(({ context, event, enqueue, self }) =>
        jobEnded(context, event.slot, { output: event.output }, enqueue, self),
      ),
      target: '.check',
    },
    'lane.jobError': {
      actions: enqueueActions(({ context, event, enqueue, self }) => jobEnded(context, event.slot, { error: event.error }, enqueue, self)),
      target: '.check',
    },
  },
  states: {
    accepting: {
      on: {
        'scheduler.enqueue': {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            run(
              planEnqueue(context, {
                requestId: event.requestId,
                runId: event.runId,
                job: event.job,
                title: event.title,
                lineage: event.lineage,
              }),
              enqueue,
              self,
            );
          }),
        },
        'scheduler.stop': {
          target: 'stopping',
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            run(planStop(context, event.mode), enqueue, self);
          }),
        },
      },
    },
    /** Routes back after a job ended: stays accepting, or finishes a stop once drained. */
    check: {
      always: [{ guard: ({ context }) => context.stopMode === undefined, target: 'accepting' }, { target: 'stopping' }],
    },
    stopping: {
      always: { guard: 'isDrained', target: 'stopped' },
      on: {
        'scheduler.enqueue': {
          actions: enqueueActions(({ event, enqueue }) => {
            enqueue({ type: 'rejectEnqueue', params: { requestId: event.requestId } });
          }),
        },
        'scheduler.stop': {
          actions: enqueueActions(({ context, event, enqueue, self }) => {
            // A second stop may escalate drain → cancel.
            if (event.mode === 'cancel') run(planStop(context, 'cancel'), enqueue, self);
          }),
        },
      },
    },
    stopped: {
      type: 'final',
      // Every job actor has ended; stop the lanes too, so a stopped scheduler has no children left.
      entry: enqueueActions(({ context, enqueue }) => {
        const lanes = Math.ceil(Math.max(0, context.slotCount - context.laneSize) / context.laneSize);
        for (let k = 0; k < lanes; k++) enqueue.stopChild(`lane-${k}`);
      }),
    },
  },
});

/**
 * The slice of XState's action enqueuer that {@link run} uses. Parameters are `never` so that
 * every handler's precisely typed enqueuer fits; the calls below cast to match.
 */
interface Enqueue {
  (action: never): void;
  spawnChild(src: never, options: never): void;
  sendTo(to: never, event: never): void;
  stopChild(id: never): void;
}

/**
 * A job actor ended (done, or crashed with `error`): report it, free its slot and limits, stop it
 * and dispatch the next runs. `slot` is the job actor's id, whether it is the scheduler's own child
 * or a lane's.
 */
function jobEnded(
  context: SchedulerContext,
  slot: string,
  end: { output?: SpawnJobOutput | undefined; error?: unknown },
  enqueue: Enqueue,
  self: unknown,
): void {
  const ended = context.active[slot];
  const plan = planJobEnd(context, slot, endHaltsSubtree(end));
  if (ended) {
    if ('error' in end) {
      enqueue({
        type: 'jobCrashed',
        params: {
          runId: ended.runId,
          parentSessionId: ended.job.parentSessionId,
          childSessionId: ended.job.childSessionId,
          error: end.error,
        },
      } as never);
    }
    enqueue({ type: 'jobEnded', params: { output: end.output, runId: ended.runId, slot } } as never);
  }
  run(plan, enqueue, self);
}

/**
 * True when a run's end must still reach its subtree: it ended in `error` (timeouts included) or
 * crashed — but not when it never ran as its session (a load error: the session may belong to
 * someone else). A `cancelled` end already reached it: every cancel comes from the scheduler,
 * which halts the session and its subtree in the same turn (`planCancel`, `planCancelTree`).
 */
function endHaltsSubtree(end: { output?: SpawnJobOutput | undefined; error?: unknown }): boolean {
  if ('error' in end) return true;
  const output = end.output;
  return output?.status === 'error' && !LOAD_ERROR_CODES.has(output.code);
}

/**
 * The job logic this scheduler was provided with (`machine.provide({ actors: { spawnJob } })`),
 * for the lanes it spawns: they must run the same job actors as its own first slots.
 */
function jobLogicOf(self: unknown): AnyActorLogic {
  const actors = (self as { logic?: { implementations?: { actors?: Record<string, unknown> } } }).logic?.implementations?.actors;
  return (actors?.spawnJob as AnyActorLogic | undefined) ?? spawnJobMachine;
}

/**
 * Turns a plan's effects into XState actions, in order. No `assign`: the plan already updated the
 * context in place (copying it per event is what made 10,000 runs quadratic). A job actor in a lane
 * is spawned, messaged and stopped through its lane.
 */
function run(plan: Plan, enqueue: Enqueue, self: unknown): void {
  const { laneSize } = plan.context;
  const toJob = (slot: string, event: LaneJobEvent): void => {
    const lane = laneOfSlot(slot, laneSize);
    if (lane === undefined) enqueue.sendTo(slot as never, event as never);
    else enqueue.sendTo(lane as never, { type: 'lane.send', slot, event } satisfies SchedulerLaneEvent as never);
  };
  for (const effect of plan.effects) {
    switch (effect.kind) {
      case 'accepted':
        enqueue({ type: 'recordAccepted', params: { run: effect.run } } as never);
        break;
      case 'started':
        enqueue({ type: 'publishStarted', params: { run: effect.run } } as never);
        break;
      case 'enqueued':
        enqueue({
          type: 'resolveEnqueue',
          params: { requestId: effect.requestId, runId: effect.runId, deduplicated: effect.deduplicated },
        } as never);
        break;
      case 'rejected':
        enqueue({ type: 'rejectEnqueue', params: { requestId: effect.requestId } } as never);
        break;
      case 'spawnLane':
        enqueue.spawnChild(laneLogicFor(jobLogicOf(self)) as never, { id: effect.lane } as never);
        break;
      case 'spawn': {
        const lane = laneOfSlot(effect.slot, laneSize);
        if (lane === undefined) enqueue.spawnChild('spawnJob' as never, { id: effect.slot, input: effect.input } as never);
        else
          enqueue.sendTo(
            lane as never,
            { type: 'lane.spawn', slot: effect.slot, input: effect.input } satisfies SchedulerLaneEvent as never,
          );
        break;
      }
      case 'cancelJob':
        toJob(effect.slot, { type: 'job.cancel', reason: effect.reason });
        break;
      case 'discardJob':
        toJob(effect.slot, { type: 'job.discard' });
        break;
      case 'waitJob':
        toJob(effect.slot, { type: 'job.wait' });
        break;
      case 'resumeJob':
        toJob(effect.slot, { type: 'job.resume' });
        break;
      case 'resumed':
        enqueue({ type: 'runResumed', params: { runId: effect.runId } } as never);
        break;
      case 'starved':
        enqueue({ type: 'reportStarved', params: { queued: effect.queued, resuming: effect.resuming } } as never);
        break;
      case 'stopJob': {
        const lane = laneOfSlot(effect.slot, laneSize);
        if (lane === undefined) enqueue.stopChild(effect.slot as never);
        else enqueue.sendTo(lane as never, { type: 'lane.stop', slot: effect.slot } satisfies SchedulerLaneEvent as never);
        break;
      }
    }
  }
}

/** The scheduler machine's type. */
export type SchedulerMachine = typeof schedulerMachine;
