import type { MaybePromise } from '../api/ports.js';

/**
 * True when a port answered with a promise (any thenable) rather than a plain value.
 *
 * @example
 * const result = log.append('root', event);
 * if (isPromiseLike(result)) await result;
 */
export function isPromiseLike<T>(value: MaybePromise<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * Runs `next` on a port's answer: at once for a plain value (no promise turn on the hot path),
 * after it settles for a promise. A thrown or rejected answer goes to `onError`.
 *
 * @example
 * whenSettled(log.read('root', 0), (result) => console.log(result.lastSeq), console.error);
 */
export function whenSettled<T>(answer: () => MaybePromise<T>, next: (value: T) => void, onError: (error: unknown) => void): void {
  let value: MaybePromise<T>;
  try {
    value = answer();
  } catch (error) {
    onError(error);
    return;
  }
  if (isPromiseLike(value)) value.then(next, onError);
  else next(value);
}
