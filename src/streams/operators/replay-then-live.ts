import { Observable } from 'rxjs';

/** Something with a sequence number: `seq` grows by one per stream. */
export interface Sequenced {
  seq: number;
}

/**
 * Replay-then-live without a gap or a duplicate: subscribes to `live$` first and buffers it, then
 * emits what `replay()` returns (read at subscription time), then drains the buffer, skipping
 * anything at or below the last seq already emitted, then passes live items through the same
 * rule. Never the other way round: reading first and subscribing after would lose what arrives
 * in between.
 *
 * @example
 * const events$ = replayThenLive(() => log.read('root', afterSeq).envelopes, live$, afterSeq);
 */
export function replayThenLive<T extends Sequenced>(replay: () => readonly T[], live$: Observable<T>, afterSeq = 0): Observable<T> {
  return new Observable<T>((subscriber) => {
    let replaying = true;
    let last = afterSeq;
    const buffered: T[] = [];
    const forward = (item: T): void => {
      if (item.seq <= last) return;
      last = item.seq;
      subscriber.next(item);
    };
    const subscription = live$.subscribe({
      next: (item) => (replaying ? buffered.push(item) : forward(item)),
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        if (!replaying) subscriber.complete();
      },
    });
    try {
      for (const item of replay()) {
        if (subscriber.closed) break;
        forward(item);
      }
    } catch (error) {
      subscriber.error(error);
      return subscription;
    }
    replaying = false;
    for (const item of buffered.splice(0)) {
      if (subscriber.closed) break;
      forward(item);
    }
    if (subscription.closed && !subscriber.closed) subscriber.complete();
    return subscription;
  });
}
