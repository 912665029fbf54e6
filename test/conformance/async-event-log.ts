import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { EventLog, EventLogCapabilities, EventLogReadResult, OpenRun } from '../../src/api/ports.js';

/** Options of {@link AsyncEventLog}. */
export interface AsyncEventLogOptions {
  /**
   * Called before each append is carried out; an error it returns makes that append reject with
   * it (the inner log never sees the event), like a database refusing a write.
   */
  refuse?: (sessionId: string, event: AgentEvent) => Error | undefined;
  /**
   * How many further `setImmediate` turns the answer to the `n`th call (0-based) takes after the
   * call was carried out, so answers can arrive in another order than the calls (replies on
   * several connections). Calls are still carried out in order. @default () => 0
   */
  answerDelay?: (n: number) => number;
}

/**
 * A test adapter for the asynchronous path: wraps a synchronous {@link EventLog} (memory, SQLite)
 * and answers every call with a promise. Each call is carried out on the inner log in a later
 * `setImmediate` turn, in the order the calls were made (a request that reaches a server in
 * order), and answered then or `answerDelay(n)` turns later, so nothing is ever answered at once.
 *
 * @example
 * const log = new AsyncEventLog(new MemoryEventLog({ retention: 10 }));
 * const envelope = await log.append('a', { type: 'token', content: 'x' }); // { seq: 1, … }
 */
export class AsyncEventLog implements EventLog {
  readonly capabilities: EventLogCapabilities;
  readonly openRuns?: () => Promise<OpenRun[]>;
  readonly flush?: () => Promise<void>;
  readonly close?: () => Promise<void>;
  readonly #inner: EventLog;
  readonly #options: AsyncEventLogOptions;
  #calls = 0;

  constructor(inner: EventLog, options: AsyncEventLogOptions = {}) {
    this.#inner = inner;
    this.#options = options;
    this.capabilities = { ...inner.capabilities };
    const { openRuns, flush, close } = inner;
    if (openRuns) this.openRuns = () => this.#later(() => openRuns.call(inner));
    if (flush) this.flush = () => this.#later(() => flush.call(inner));
    if (close) this.close = () => this.#later(() => close.call(inner));
  }

  append(sessionId: string, event: AgentEvent): Promise<SessionEventEnvelope> {
    return this.#later(() => {
      const refusal = this.#options.refuse?.(sessionId, event);
      if (refusal) throw refusal;
      return this.#inner.append(sessionId, event);
    });
  }

  read(sessionId: string, afterSeq: number): Promise<EventLogReadResult> {
    return this.#later(() => this.#inner.read(sessionId, afterSeq));
  }

  /** Carries out `call` in a later `setImmediate` turn (FIFO with the other calls) and answers with its result. */
  #later<T>(call: () => T | PromiseLike<T>): Promise<T> {
    const delay = this.#options.answerDelay?.(this.#calls++) ?? 0;
    const carriedOut = new Promise<T>((resolve, reject) => {
      setImmediate(() => {
        try {
          Promise.resolve(call()).then(resolve, reject);
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    if (delay <= 0) return carriedOut;
    const turns = (n: number): Promise<void> =>
      n <= 0 ? Promise.resolve() : new Promise<void>((resolve) => setImmediate(resolve)).then(() => turns(n - 1));
    return carriedOut.then(
      (value) => turns(delay).then(() => value),
      (error: unknown) => turns(delay).then(() => Promise.reject(error instanceof Error ? error : new Error(String(error)))),
    );
  }
}
