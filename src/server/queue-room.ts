import type { SpawnScheduler } from '../api/spawn-scheduler.js';
import type { ServerScheduler } from './server-options.js';

interface QueueView {
  queue?: { length?: unknown } | undefined;
  waiting?: { length?: unknown } | undefined;
}

/** The length of a run list in a snapshot (an array, or the scheduler's run list with `length`). */
const lengthOf = (list: { length?: unknown } | undefined): number => (typeof list?.length === 'number' ? list.length : 0);

/**
 * True when a new run would have to wait for room in the scheduler's queue (so the API answers
 * 429 instead of holding the request). Reads the public actor snapshot: the queued runs and the
 * `enqueue` calls already waiting, against `scheduler.input.queueCapacity`. A scheduler without
 * an actor (the distributed front door: its queue is BullMQ's) or a snapshot without those fields
 * reads as "room".
 *
 * @example
 * if (isQueueFull(scheduler)) return tooManyRequests();
 */
export function isQueueFull(scheduler: ServerScheduler): boolean {
  const embedded = scheduler as Partial<Pick<SpawnScheduler, 'actor' | 'input'>>;
  if (!embedded.actor || !embedded.input) return false;
  const context = embedded.actor.getSnapshot().context as QueueView;
  return lengthOf(context.waiting) > 0 || lengthOf(context.queue) >= embedded.input.queueCapacity;
}
