import type { ActorRefFrom } from 'xstate';
import type { SchedulerLogic } from './provide-scheduler-logic.js';

/**
 * The stop protocol: sends `scheduler.stop`, then resolves once the actor is done and every
 * crashed job's completion is written. With `cancel`, jobs still waiting on their store one
 * event-loop turn later are ended without it (`job.abandon`) instead of waiting out the cancel
 * grace: stores that answer at once (memory, SQLite) have saved by then. An event-loop turn, not
 * a time budget.
 *
 * @example
 * await stopSchedulerActor(actor, 'cancel', crashEnds);
 */
export function stopSchedulerActor(
  actor: ActorRefFrom<SchedulerLogic>,
  mode: 'drain' | 'cancel',
  crashEnds: ReadonlySet<Promise<void>>,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const finish = () => {
      // A crashed job's completion is written after its actor ended: wait for it too.
      void Promise.allSettled([...crashEnds]).then(() => resolve());
    };
    const done = () => actor.getSnapshot().status !== 'active';
    if (done()) return finish();
    const subscription = actor.subscribe({
      next: () => {
        if (done()) {
          subscription.unsubscribe();
          finish();
        }
      },
      error: () => finish(),
      complete: () => finish(),
    });
    actor.send({ type: 'scheduler.stop', mode });
    if (mode === 'cancel') setImmediate(() => abandonWaitingJobs(actor));
  });
}

/** Ends, without their store call, the jobs of a cancelling stop that still wait on one. */
function abandonWaitingJobs(actor: ActorRefFrom<SchedulerLogic>): void {
  if (actor.getSnapshot().status !== 'active') return;
  for (const job of Object.values(actor.getSnapshot().children)) {
    if (job && job.getSnapshot().status === 'active') job.send({ type: 'job.abandon' });
  }
}
