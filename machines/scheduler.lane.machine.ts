import { enqueueActions, setup, type AnyActorLogic } from 'xstate';
import type { SchedulerLaneEvent } from './scheduler.events.js';
import { spawnJobMachine } from './spawn-job.machine.js';

/**
 * A lane: holds up to `laneSize` job actors for its scheduler and does nothing else. XState copies
 * an actor's children on every spawn and stop, so with 10,000 job actors under the scheduler each
 * spawn and each stop copied 10,000 entries (quadratic). Job actors beyond the scheduler's first
 * `laneSize` slots live in lanes instead (each copy is then at most `laneSize` entries). The lane
 * spawns, messages and stops them as its scheduler says, and forwards their completion or crash
 * (`lane.jobDone` / `lane.jobError`) — it keeps no state of its own.
 *
 * @example
 * enqueue.spawnChild(laneLogicFor(jobLogic), { id: 'lane-0' });
 * enqueue.sendTo('lane-0', { type: 'lane.spawn', slot: 'job-64', input });
 */
export const schedulerLaneMachine = setup({
  types: { events: {} as SchedulerLaneEvent },
  actors: { spawnJob: spawnJobMachine },
}).createMachine({
  id: 'schedulerLane',
  on: {
    'lane.spawn': {
      actions: enqueueActions(({ event, enqueue }) => {
        enqueue.spawnChild('spawnJob', { id: event.slot, input: event.input });
      }),
    },
    'lane.send': {
      actions: enqueueActions(({ event, enqueue }) => {
        enqueue.sendTo(event.slot, event.event);
      }),
    },
    'lane.stop': {
      actions: enqueueActions(({ event, enqueue }) => {
        enqueue.stopChild(event.slot);
      }),
    },
    'job.abandon': {
      actions: enqueueActions(({ self, enqueue }) => {
        for (const job of Object.values(self.getSnapshot().children as Record<string, { getSnapshot(): { status: string } }>)) {
          if (job.getSnapshot().status === 'active') enqueue.sendTo(job as never, { type: 'job.abandon' } as never);
        }
      }),
    },
    'xstate.done.actor.*': {
      actions: enqueueActions(({ event, enqueue }) => {
        if ('actorId' in event && 'output' in event)
          enqueue.sendParent({ type: 'lane.jobDone', slot: event.actorId, output: event.output });
      }),
    },
    'xstate.error.actor.*': {
      actions: enqueueActions(({ event, enqueue }) => {
        if ('actorId' in event && 'error' in event) enqueue.sendParent({ type: 'lane.jobError', slot: event.actorId, error: event.error });
      }),
    },
  },
});

const lanes = new WeakMap<AnyActorLogic, typeof schedulerLaneMachine>();

/**
 * The lane logic whose job actors run `jobLogic` (the scheduler's own, provided `spawnJob`), made
 * once per job logic.
 */
export function laneLogicFor(jobLogic: AnyActorLogic): typeof schedulerLaneMachine {
  let lane = lanes.get(jobLogic);
  if (lane === undefined) {
    lane = schedulerLaneMachine.provide({ actors: { spawnJob: jobLogic as typeof spawnJobMachine } });
    lanes.set(jobLogic, lane);
  }
  return lane;
}
