import type { SpawnScheduler } from '../scheduler/spawn-scheduler.js';

interface QueueView {
  queue?: unknown;
  waiting?: unknown;
}

/**
 * True when a new run would have to wait for room in the scheduler's queue (so the API answers
 * 429 instead of holding the request). Reads the public actor snapshot: the queued runs and the
 * `enqueue` calls already waiting, against `scheduler.input.queueCapacity`. A snapshot without
 * those fields reads as "room".
 *
 * @example
 * if (isQueueFull(scheduler)) return tooManyRequests();
 */
export function isQueueFull(scheduler: SpawnScheduler): boolean {
  const context = scheduler.actor.getSnapshot().context as QueueView;
  const queued = Array.isArray(context.queue) ? context.queue.length : 0;
  const waiting = Array.isArray(context.waiting) ? context.waiting.length : 0;
  return waiting > 0 || queued >= scheduler.input.queueCapacity;
}
