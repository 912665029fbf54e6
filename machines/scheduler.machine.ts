import { enqueueActions, setup } from 'xstate';
import type { CompletionReason } from './agent-event.events.js';
import type { QueuedRun, SchedulerContext, SchedulerEvent, SchedulerInput } from './scheduler.events.js';
import { createSchedulerContext, isIdle, planCancel, planDiscard, planEnqueue, planJobEnd, planStop, type Plan } from './scheduler.plan.js';
import type { SpawnJobOutput } from './spawn-job.events.js';
import { spawnJobMachine } from './spawn-job.machine.js';

/** Parameters of the runtime actions the scheduler machine calls. */
export interface SchedulerActionParams {
  recordAccepted: { run: QueuedRun };
  publishStarted: { run: QueuedRun };
  resolveEnqueue: { requestId: string; runId: string; deduplicated: boolean };
  rejectEnqueue: { requestId: string };
  jobEnded: { output: SpawnJobOutput | undefined; runId: string; slot: string };
  jobCrashed: { runId: string; parentSessionId: string; childSessionId: string; error: unknown };
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
      actions: enqueueActions(({ context, event, enqueue }) => {
        run(planCancel(context, new Set(event.childSessionIds), event.reason), enqueue);
      }),
    },
    'scheduler.discard': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        run(planDiscard(context, new Set(event.runIds)), enqueue);
      }),
      target: '.check',
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        const ended = context.active[event.actorId];
        const plan = planJobEnd(context, event.actorId);
        if (ended) {
          const output = 'output' in event ? event.output : undefined;
          enqueue({ type: 'jobEnded', params: { output, runId: ended.runId, slot: event.actorId } });
        }
        run(plan, enqueue);
      }),
      target: '.check',
    },
    'xstate.error.actor.*': {
      actions: enqueueActions(({ context, event, enqueue }) => {
        if (!('actorId' in event)) return;
        const ended = context.active[event.actorId];
        const plan = planJobEnd(context, event.actorId);
        if (ended) {
          const error = 'error' in event ? event.error : undefined;
          enqueue({
            type: 'jobCrashed',
            params: { runId: ended.runId, parentSessionId: ended.job.parentSessionId, childSessionId: ended.job.childSessionId, error },
          });
          enqueue({ type: 'jobEnded', params: { output: undefined, runId: ended.runId, slot: event.actorId } });
        }
        run(plan, enqueue);
      }),
      target: '.check',
    },
  },
  states: {
    accepting: {
      on: {
        'scheduler.enqueue': {
          actions: enqueueActions(({ context, event, enqueue }) => {
            run(planEnqueue(context, { requestId: event.requestId, runId: event.runId, job: event.job, title: event.title }), enqueue);
          }),
        },
        'scheduler.stop': {
          target: 'stopping',
          actions: enqueueActions(({ context, event, enqueue }) => {
            run(planStop(context, event.mode), enqueue);
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
          actions: enqueueActions(({ context, event, enqueue }) => {
            // A second stop may escalate drain → cancel.
            if (event.mode === 'cancel') run(planStop(context, 'cancel'), enqueue);
          }),
        },
      },
    },
    stopped: { type: 'final' },
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
 * Turns a plan's effects into XState actions, in order. No `assign`: the plan already updated the
 * context in place (copying it per event is what made 10,000 runs quadratic).
 */
function run(plan: Plan, enqueue: Enqueue): void {
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
      case 'spawn':
        enqueue.spawnChild('spawnJob' as never, { id: effect.slot, input: effect.input } as never);
        break;
      case 'cancelJob':
        enqueue.sendTo(effect.slot as never, { type: 'job.cancel', reason: effect.reason satisfies CompletionReason } as never);
        break;
      case 'discardJob':
        enqueue.sendTo(effect.slot as never, { type: 'job.discard' } as never);
        break;
      case 'stopJob':
        enqueue.stopChild(effect.slot as never);
        break;
    }
  }
}

/** The scheduler machine's type. */
export type SchedulerMachine = typeof schedulerMachine;
