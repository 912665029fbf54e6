import { SproutError } from '../errors.js';

/**
 * Redis (the run queue, leases, cancel flags) could not be reached or refused a command. The
 * connections reconnect on their own; the call that failed can be retried.
 *
 * @example
 * try { await scheduler.spawnChild('root', brief); } catch (e) { if (e instanceof QueueUnavailableError) retryLater(); }
 */
export class QueueUnavailableError extends SproutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('QUEUE_UNAVAILABLE', message, options);
  }
}

/** `error` as a {@link QueueUnavailableError} saying what was being done (Sprout's own errors pass through). */
export function queueUnavailable(error: unknown, what: string): SproutError {
  if (error instanceof SproutError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new QueueUnavailableError(`Redis: ${what} failed: ${message}`, { cause: error });
}

/**
 * The run queue holds `queueCapacity` runs that no worker has started yet: the run was not queued
 * (a spawned child is not kept). Retry after a while; the HTTP API answers 429 `QUEUE_FULL` with
 * `Retry-After`, as the embedded server does.
 *
 * @example
 * try { await frontDoor.spawnChild('root', brief); } catch (e) { if (e instanceof QueueFullError) retryIn(e.retryAfterSeconds); }
 */
export class QueueFullError extends SproutError {
  /** The queue's bound (runs queued and not started, across every worker). */
  readonly capacity: number;
  /** A hint for clients, in seconds. */
  readonly retryAfterSeconds = 1;

  constructor(capacity: number) {
    super('QUEUE_FULL', `the run queue is full (${capacity} runs waiting for a worker); retry later`);
    this.capacity = capacity;
  }
}
