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

/** Where a session's stream is forwarded: its parent's stream, under the session's current run. */
export interface StreamLink {
  parentSessionId: string;
  runId: string;
}

/**
 * Resolves the link of a session's stream to its parent's: `undefined` for a root, an unknown
 * session, or one whose stream is not forwarded now. `runId` is given for an event of that run
 * of the session (its agent's events, its terminal event).
 */
export type StreamLinkResolver = (sessionId: string, runId?: string) => StreamLink | undefined;

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
  #linkOf: StreamLinkResolver | undefined;
  /** Envelopes a batched log accepted and has not committed yet, in append order (all sessions). */
  readonly #undelivered: { sessionId: string; envelope: SessionEventEnvelope; durable: Promise<void> | undefined }[] = [];
  /** The commits (of batched logs) that settled. */
  readonly #committed = new WeakSet<Promise<void>>();
  /** The delivery of the head of {@link #undelivered}, once its batch committed. */
  #delivering: Promise<void> | undefined;
  /** Envelopes queued for delivery after their commit so far, and how many of them were delivered. */
  #queued = 0;
  #delivered = 0;
  /** `whenDelivered` calls waiting for the first `target` queued envelopes. */
  readonly #deliveryWaiters: { target: number; resolve: () => void }[] = [];
  #maxHops = 0;

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
   * Turns on the tree forwarding of the seed's `spawn.rs`: everything published on a session's
   * stream is also published on its parent's stream wrapped in `sub_session_event`
   * `{ parent_session_id, child_session_id, run_id, event }`, and so on up to the root, at most
   * `maxHops` levels (the scheduler's `maxDepth`), as far as `linkOf` links them. The root's
   * stream, with its one `seq`, is then a resumable log of the whole tree.
   *
   * @example
   * hub.forwardWith((id) => parents.get(id), 4);
   */
  forwardWith(linkOf: StreamLinkResolver, maxHops: number): void {
    this.#linkOf = linkOf;
    this.#maxHops = maxHops;
  }

  /**
   * Appends one event to a session's stream and delivers it to live subscribers, then forwards it
   * up the tree (see {@link forwardWith}). When the log cannot append it, nothing is delivered (a
   * subscriber never sees an event the log lacks), nothing is forwarded and, with an `onLogError`
   * handler, `undefined` is returned (or resolved) instead of an error.
   */
  publish(sessionId: string, event: AgentEvent, from?: string | StreamLink): Published | Promise<Published> {
    const own = this.#append(sessionId, event);
    if (this.#linkOf !== undefined && own !== undefined) this.#forward(sessionId, event, from);
    return own;
  }

  /**
   * Publishes `event` of `sessionId` on each ancestor's stream, wrapped once more per level. `from`
   * names the run the event belongs to: its id (the first level then asks the resolver for that
   * run's link) or its link itself (a running run's tracker knows it: no lookup on the hot path).
   */
  #forward(sessionId: string, event: AgentEvent, from: string | StreamLink | undefined): void {
    let child = sessionId;
    let inner = event;
    // The sessions passed so far, to stop a cycle of links (allocated past the first level only).
    let visited: string[] | undefined;
    for (let hop = 0; hop < this.#maxHops; hop++) {
      let link: StreamLink | undefined;
      if (hop === 0 && typeof from === 'object') link = from;
      else {
        try {
          link = this.#linkOf?.(child, hop === 0 && typeof from === 'string' ? from : undefined);
        } catch (error) {
          this.#refused(error);
          return;
        }
      }
      if (link === undefined || link.parentSessionId === '') return;
      // A cycle of links (a job naming a wrong parent) never loops an event back down.
      const parent = link.parentSessionId;
      if (parent === sessionId || parent === child || (visited !== undefined && visited.includes(parent))) return;
      if (hop > 0) (visited ??= [sessionId, child]).push(parent);
      inner = {
        type: 'sub_session_event',
        parent_session_id: link.parentSessionId,
        child_session_id: child,
        run_id: link.runId,
        event: inner,
      };
      if (this.#append(link.parentSessionId, inner) === undefined) return;
      child = link.parentSessionId;
    }
  }

  #append(sessionId: string, event: AgentEvent): Published | Promise<Published> {
    let answer: MaybePromise<SessionEventEnvelope>;
    try {
      answer = this.#log.append(sessionId, event);
    } catch (error) {
      return this.#refused(error);
    }
    const previous = this.#tails.get(sessionId);
    if (!isPromiseLike(answer) && previous === undefined) {
      // Durable before delivered: a batched log that answered before committing delivers after.
      const durable = this.#log.committed?.();
      if (durable === undefined && this.#undelivered.length === 0) this.#deliver(sessionId, answer);
      else this.#deliverWhenDurable(sessionId, answer, durable);
      return answer;
    }
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

  /**
   * Queues an envelope a batched log accepted but has not committed yet. Envelopes are delivered
   * in append order (across sessions) as their batch commits: one promise per batch, not per event.
   */
  #deliverWhenDurable(sessionId: string, envelope: SessionEventEnvelope, durable: Promise<void> | undefined): void {
    this.#undelivered.push({ sessionId, envelope, durable });
    this.#queued += 1;
    if (this.#delivering === undefined) this.#awaitHead();
  }

  /** Waits for the commit of the first queued envelope, then delivers every committed one. */
  #awaitHead(): void {
    const head = this.#undelivered[0];
    if (head === undefined) {
      this.#delivering = undefined;
      return;
    }
    const durable = head.durable;
    this.#delivering = (durable ?? Promise.resolve()).then(() => {
      if (durable !== undefined) this.#committed.add(durable);
      let delivered = 0;
      for (const entry of this.#undelivered) {
        if (entry.durable !== undefined && !this.#committed.has(entry.durable)) break;
        delivered += 1;
      }
      const batch = this.#undelivered.splice(0, delivered);
      for (const { sessionId, envelope } of batch) this.#deliver(sessionId, envelope);
      this.#delivered += batch.length;
      while (this.#deliveryWaiters.length > 0 && (this.#deliveryWaiters[0] as { target: number }).target <= this.#delivered) {
        (this.#deliveryWaiters.shift() as { resolve: () => void }).resolve();
      }
      this.#awaitHead();
    });
  }

  /**
   * A deleted session: its stream's events go from the log (`EventLog.deleteSession`), and its
   * live subscribers are completed once every event published before was delivered (the stream
   * ends; a server ends its SSE response).
   */
  async forgetSession(sessionId: string): Promise<void> {
    await this.drain();
    try {
      await this.#log.deleteSession?.(sessionId);
    } finally {
      const live = this.#live.get(sessionId);
      this.#live.delete(sessionId);
      live?.complete();
    }
  }

  /**
   * Commits what a batched log still holds and resolves once every envelope published so far was
   * delivered (or refused): what `stop()` waits for, so subscribers have every event when it resolves.
   */
  async drain(): Promise<void> {
    if (this.#undelivered.length > 0) {
      try {
        await this.#log.flush?.();
      } catch (error) {
        this.#refused(error);
      }
    }
    await this.settled();
  }

  /**
   * Settles once every envelope published so far (of a batched log) reached live subscribers;
   * `undefined` when nothing waits for its commit. A run starts only after its
   * `sub_session_started` was delivered this way.
   */
  whenDelivered(): Promise<void> | undefined {
    if (this.#delivered >= this.#queued) return undefined;
    const target = this.#queued;
    return new Promise<void>((resolve) => this.#deliveryWaiters.push({ target, resolve }));
  }

  /** Resolves once every asynchronous append published so far was delivered (or refused). */
  async settled(): Promise<void> {
    while (this.#tails.size > 0 || this.#delivering !== undefined) {
      await Promise.all([...this.#tails.values(), this.#delivering]);
    }
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
