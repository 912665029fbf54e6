import { Subject, type Observable } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { EventLog } from './event-log.js';
import { GuardedObservable } from './guarded-observable.js';
import { replayThenLive } from './operators/replay-then-live.js';

/** Options of `events(sessionId, options)`. */
export interface SessionEventsOptions {
  /** Replay the retained events with `seq > afterSeq` first (0 replays everything retained). */
  afterSeq?: number | undefined;
}

/**
 * The per-session event streams. `publish` appends to the {@link EventLog} (which assigns `seq`
 * and retains a bounded tail) and pushes to live subscribers; `events$` replays from the log and
 * then goes live with no gap and no duplicate, even when a subscriber publishes while it replays.
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
   * with an `onLogError` handler, `undefined` is returned.
   */
  publish(sessionId: string, event: AgentEvent): SessionEventEnvelope | undefined {
    let envelope: SessionEventEnvelope;
    try {
      envelope = this.#log.append(sessionId, event);
    } catch (error) {
      if (!this.#onLogError) throw error;
      this.#onLogError(error);
      return undefined;
    }
    this.#live.get(sessionId)?.next(envelope);
    return envelope;
  }

  /** The last seq assigned on a session's stream (0 when none). */
  lastSeq(sessionId: string): number {
    return this.#log.read(sessionId, Number.MAX_SAFE_INTEGER).lastSeq;
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
  #replay(sessionId: string, afterSeq: number): SessionEventEnvelope[] {
    const { envelopes, firstRetainedSeq, lastSeq } = this.#log.read(sessionId, afterSeq);
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
