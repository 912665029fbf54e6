import { Observable } from 'rxjs';
import type { MaybePromise } from '../event-log.js';
import { isPromiseLike } from '../maybe-promise.js';

/** Something with a sequence number: `seq` grows by one per stream. */
export interface Sequenced {
  seq: number;
}

/**
 * Replay-then-live without a gap or a duplicate: subscribes to `live$` first and buffers it, then
 * emits what `replay()` returns (read at subscription time), then drains the buffer, skipping
 * anything at or below the last seq already emitted, then passes live items through the same
 * rule. Never the other way round: reading first and subscribing after would lose what arrives
 * in between. `replay` may answer with a promise (an asynchronous log): live items stay buffered
 * until it settles; a rejected replay errors the stream.
 *
 * @example
 * const events$ = replayThenLive(() => log.read('root', afterSeq).envelopes, live$, afterSeq);
 */
export function replayThenLive<T extends Sequenced>(
  replay: () => MaybePromise<readonly T[]>,
  live$: Observable<T>,
  afterSeq = 0,
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let replaying = true;
    let last = afterSeq;
    const buffered: T[] = [];
    const forward = (item: T): void => {
      if (item.seq <= last) return;
      last = item.seq;
      subscriber.next(item);
    };
    let liveCompleted = false;
    const subscription = live$.subscribe({
      next: (item) => (replaying ? buffered.push(item) : forward(item)),
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        liveCompleted = true;
        if (!replaying) subscriber.complete();
      },
    });
    const emitReplay = (items: readonly T[]): void => {
      for (const item of items) {
        if (subscriber.closed) break;
        forward(item);
      }
      replaying = false;
      for (const item of buffered.splice(0)) {
        if (subscriber.closed) break;
        forward(item);
      }
      if (liveCompleted && !subscriber.closed) subscriber.complete();
    };
    let items: MaybePromise<readonly T[]>;
    try {
      items = replay();
    } catch (error) {
      subscriber.error(error);
      return subscription;
    }
    if (isPromiseLike(items)) {
      items.then(
        (resolved) => {
          if (!subscriber.closed) emitReplay(resolved);
        },
        (error: unknown) => subscriber.error(error),
      );
    } else emitReplay(items);
    return subscription;
  });
}
