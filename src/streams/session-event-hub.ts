import { Subject, type Observable } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { EventLog, EventLogReadResult, MaybePromise } from './event-log.js';
import { isPromiseLike } from './maybe-promise.js';
import { GuardedObservable } from './guarded-observable.js';
import { replayThenLive } from './operators/replay-then-live.js';

/** Options of `events(sessionId, options)`. */
export interface SessionEventsOptions {
  /** Replay the retained events with `seq > afterSeq` first (0 replays everything retained). */
  afterSeq?: number | undefined;
}

/** What `publish` gives back: the envelope the log assigned, or `undefined` when it refused the event. */
export type Published = SessionEventEnvelope | undefined;

const noop = (): void => {};

/**
 * The per-session event streams. `publish` appends to the {@link EventLog} (which assigns `seq`
 * and retains a bounded tail) and pushes to live subscribers; `events$` replays from the log and
 * then goes live with no gap and no duplicate, even when a subscriber publishes while it replays.
 *
 * The log may answer at once (memory, SQLite: `publish` returns the envelope and delivers it in
 * the same call) or with a promise (a networked log: `publish` returns a promise, and each
 * session's envelopes are delivered in the order they were published once the log accepted them).
 *
 * @example
 * const hub = new SessionEventHub(new MemoryEventLog(), console.error);
 * hub.events$('root', { afterSeq: 0 }).subscribe((e) => console.log(e.seq, e.event.type));
 * hub.publish('root', { type: 'token', content: 'hi' });
 */
export class SessionEventHub {
  readonly #log: EventLog;
  readonly #onSubscriberError: (error: unknown) => void;
  readonly #live = new Map<string, Subject<SessionEventEnvelope>>();
  readonly #onLogError: ((error: unknown) => void) | undefined;
  /** Per session, the delivery of the last asynchronous append (later ones wait for it). */
  readonly #tails = new Map<string, Promise<void>>();

  /**
   * @param onSubscriberError gets what a subscriber threw (the others and the source carry on)
   * @param onLogError gets what the log's `append` threw; then `publish` returns `undefined`
   *   instead of throwing (without it, `publish` rethrows)
   */
  constructor(log: EventLog, onSubscriberError: (error: unknown) => void, onLogError?: (error: unknown) => void) {
    this.#log = log;
    this.#onSubscriberError = onSubscriberError;
    this.#onLogError = onLogError;
  }

  /** The log behind the streams. */
  get log(): EventLog {
    return this.#log;
  }

  /**
   * Appends one event to a session's stream and delivers it to live subscribers. When the log
   * cannot append it, nothing is delivered (a subscriber never sees an event the log lacks) and,
   * with an `onLogError` handler, `undefined` is returned (or resolved) instead of an error.
   */
  publish(sessionId: string, event: AgentEvent): Published | Promise<Published> {
    let answer: MaybePromise<SessionEventEnvelope>;
    try {
      answer = this.#log.append(sessionId, event);
    } catch (error) {
      return this.#refused(error);
    }
    const previous = this.#tails.get(sessionId);
    if (!isPromiseLike(answer) && previous === undefined) {
      this.#deliver(sessionId, answer);
      return answer;
    }
    // The previous append's delivery first (it never rejects), then this one's answer: a refused
    // append must not let a later one overtake an earlier one still in flight.
    // The previous append's delivery first (it never rejects), then this one's answer: a refused
    // append must not let a later one overtake an earlier one still in flight. `allSettled`
    // observes this answer at once, so a refusal is never an unhandled rejection while it waits.
    const delivered = Promise.allSettled([previous, answer]).then(([, settled]) => {
      if (settled.status === 'rejected') return this.#refused(settled.reason);
      this.#deliver(sessionId, settled.value);
      return settled.value;
    });
    const tail = delivered.then(noop, noop);
    this.#tails.set(sessionId, tail);
    void tail.then(() => {
      if (this.#tails.get(sessionId) === tail) this.#tails.delete(sessionId);
    });
    return delivered;
  }

  /** Resolves once every asynchronous append published so far was delivered (or refused). */
  async settled(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all(this.#tails.values());
  }

  /** The last seq assigned on a session's stream (0 when none). */
  lastSeq(sessionId: string): MaybePromise<number> {
    const result = this.#log.read(sessionId, Number.MAX_SAFE_INTEGER);
    return isPromiseLike(result) ? Promise.resolve(result).then((read) => read.lastSeq) : result.lastSeq;
  }

  #deliver(sessionId: string, envelope: SessionEventEnvelope): void {
    this.#live.get(sessionId)?.next(envelope);
  }

  #refused(error: unknown): Published {
    if (!this.#onLogError) throw error;
    this.#onLogError(error);
    return undefined;
  }

  /** A session's stream: replay after `afterSeq` (if given), then live events (`replayThenLive`). */
  events$(sessionId: string, options: SessionEventsOptions = {}): Observable<SessionEventEnvelope> {
    return new GuardedObservable<SessionEventEnvelope>((subscriber) => {
      let live = this.#live.get(sessionId);
      if (!live) {
        live = new Subject<SessionEventEnvelope>();
        this.#live.set(sessionId, live);
      }
      const subject = live;
      const afterSeq = options.afterSeq;
      const source$ =
        afterSeq === undefined
          ? subject
          : replayThenLive(() => this.#replay(sessionId, Math.max(0, afterSeq)), subject, Math.max(0, afterSeq));
      const subscription = source$.subscribe(subscriber);
      return () => {
        subscription.unsubscribe();
        if (!subject.observed && this.#live.get(sessionId) === subject) this.#live.delete(sessionId);
      };
    }, this.#onSubscriberError);
  }

  /** The retained envelopes after `afterSeq`, preceded by `stream_truncated` when some were dropped. */
  #replay(sessionId: string, afterSeq: number): MaybePromise<SessionEventEnvelope[]> {
    const result = this.#log.read(sessionId, afterSeq);
    if (isPromiseLike(result)) return Promise.resolve(result).then((read) => this.#withTruncation(sessionId, afterSeq, read));
    return this.#withTruncation(sessionId, afterSeq, result);
  }

  #withTruncation(sessionId: string, afterSeq: number, read: EventLogReadResult): SessionEventEnvelope[] {
    const { envelopes, firstRetainedSeq, lastSeq } = read;
    const firstAvailable = firstRetainedSeq ?? lastSeq + 1;
    if (afterSeq + 1 < firstAvailable && lastSeq > afterSeq) {
      return [
        { seq: firstAvailable - 1, sessionId, event: { type: 'stream_truncated', first_retained_seq: firstAvailable } },
        ...envelopes,
      ];
    }
    return envelopes;
  }
}
