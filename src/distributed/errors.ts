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
