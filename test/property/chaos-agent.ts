import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { AgentRuntime, ExecuteRequest } from '../../src/agents/agent-runtime.js';
import type { TestClock } from '../../src/testing/simulated-clock.js';

/** A value an agent rejects (or throws) with. */
export type Thrown =
  'error' | 'string' | 'undefined' | 'null' | 'null-prototype' | 'throwing-toString' | 'number' | 'revoked-proxy' | 'abort-error';

/** What one `execute` call does. */
export type AgentOutcome =
  | { kind: 'complete'; events: number; waitMs: number }
  | { kind: 'reject'; thrown: Thrown; events: number; waitMs: number }
  | { kind: 'throw-sync'; thrown: Thrown }
  | { kind: 'hang'; ignoreAbort: boolean; events: number }
  | { kind: 'invalid-event'; waitMs: number }
  | { kind: 'unencodable-event'; waitMs: number }
  | { kind: 'emit-after-resolve'; events: number; delayMs: number };

/** Builds the thrown value (a fresh one each call). */
export function thrownValue(kind: Thrown): unknown {
  switch (kind) {
    case 'error':
      return new Error('agent failed');
    case 'string':
      return 'agent failed as a string';
    case 'undefined':
      return undefined;
    case 'null':
      return null;
    case 'null-prototype':
      return Object.create(null) as unknown;
    case 'throwing-toString':
      return {
        toString() {
          throw new Error('toString throws');
        },
      };
    case 'number':
      return 42;
    case 'revoked-proxy': {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    }
    case 'abort-error': {
      // An AbortError the agent made up itself: not a cancel request, so the run is an error.
      const error = new Error('The operation was aborted');
      error.name = 'AbortError';
      return error;
    }
  }
}

/** One recorded `execute` call. */
export interface AgentCall {
  readonly index: number;
  readonly sessionId: string;
  readonly parentSessionId: string | undefined;
  readonly outcome: AgentOutcome;
  readonly signal: AbortSignal;
  /** Valid events emitted while execute ran (before it settled), the final `complete` included. */
  emittedBeforeSettle: number;
  settled?: 'resolved' | 'rejected' | 'threw';
  /** The answer appended (for `complete`). */
  answer?: string;
  /** Errors `request.emit` threw (it must never throw). */
  readonly emitErrors: unknown[];
}

/**
 * A fake agent for the property: each call plays `plan[index % plan.length]`, waits only on the
 * simulated clock, and counts concurrent calls from its own side (a call counts from its start
 * until it settles or its signal aborts — an agent that ignores the abort keeps hanging, but the
 * scheduler has let it go).
 */
export class ChaosAgent implements AgentRuntime {
  readonly calls: AgentCall[] = [];
  readonly #active = new Set<AgentCall>();
  maxActive = 0;
  /** Highest number of simultaneously active calls per parent session id. */
  readonly maxActivePerParent = new Map<string, number>();

  constructor(
    private readonly clock: TestClock,
    private readonly plan: readonly AgentOutcome[],
  ) {}

  execute(session: Session, request: ExecuteRequest): Promise<void> {
    const index = this.calls.length;
    const outcome = this.plan[index % this.plan.length] ?? { kind: 'complete', events: 1, waitMs: 0 };
    const call: AgentCall = {
      index,
      sessionId: session.id,
      parentSessionId: session.parent_session_id,
      outcome,
      signal: request.signal,
      emittedBeforeSettle: 0,
      emitErrors: [],
    };
    this.calls.push(call);
    this.#enter(call);
    request.signal.addEventListener('abort', () => this.#leave(call), { once: true });
    if (request.signal.aborted) this.#leave(call);
    if (outcome.kind === 'throw-sync') {
      call.settled = 'threw';
      this.#leave(call);
      throw thrownValue(outcome.thrown);
    }
    return this.#play(session, request, call, outcome).then(
      () => {
        call.settled = 'resolved';
        this.#leave(call);
      },
      (error: unknown) => {
        call.settled = 'rejected';
        this.#leave(call);
        throw error;
      },
    );
  }

  #enter(call: AgentCall): void {
    this.#active.add(call);
    this.maxActive = Math.max(this.maxActive, this.#active.size);
    const parent = call.parentSessionId ?? '';
    const sameParent = [...this.#active].filter((c) => (c.parentSessionId ?? '') === parent).length;
    this.maxActivePerParent.set(parent, Math.max(this.maxActivePerParent.get(parent) ?? 0, sameParent));
  }

  #leave(call: AgentCall): void {
    this.#active.delete(call);
  }

  #emit(call: AgentCall, request: ExecuteRequest, event: AgentEvent, counted: boolean): void {
    try {
      request.emit(event);
      if (counted && call.settled === undefined) call.emittedBeforeSettle += 1;
    } catch (error) {
      call.emitErrors.push(error);
    }
  }

  #sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(abortError(signal));
      const timer = this.clock.setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        this.clock.clearTimeout(timer);
        reject(abortError(signal));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async #play(session: Session, request: ExecuteRequest, call: AgentCall, outcome: AgentOutcome): Promise<void> {
    const tokens = (n: number): void => {
      for (let i = 0; i < n; i++) this.#emit(call, request, { type: 'token', content: `t${i} ` }, true);
    };
    const finish = (): void => {
      const answer = `answer ${call.index} of ${session.id}`;
      call.answer = answer;
      session.messages.push({ id: `a-${call.index}`, role: 'assistant', content: answer, created_at: '2026-01-01T00:00:09.000Z' });
      this.#emit(call, request, { type: 'complete', usage: { total_tokens: 1 } }, true);
    };
    switch (outcome.kind) {
      case 'complete':
        tokens(outcome.events);
        if (outcome.waitMs > 0) await this.#sleep(outcome.waitMs, request.signal);
        finish();
        return;
      case 'reject':
        tokens(outcome.events);
        if (outcome.waitMs > 0) await this.#sleep(outcome.waitMs, request.signal);
        throw thrownValue(outcome.thrown);
      case 'hang':
        tokens(outcome.events);
        await new Promise<void>((_, reject) => {
          if (outcome.ignoreAbort) return;
          if (request.signal.aborted) reject(abortError(request.signal));
          request.signal.addEventListener('abort', () => reject(abortError(request.signal)), { once: true });
        });
        return;
      case 'invalid-event':
        this.#emit(call, request, { type: 'no_such_event', content: 1 } as unknown as AgentEvent, false);
        if (outcome.waitMs > 0) await this.#sleep(outcome.waitMs, request.signal);
        finish();
        return;
      case 'unencodable-event':
        this.#emit(call, request, { type: 'tool_start', tool_call_id: 'big', tool_name: 'count', arguments: { n: 10n } }, false);
        if (outcome.waitMs > 0) await this.#sleep(outcome.waitMs, request.signal);
        finish();
        return;
      case 'emit-after-resolve':
        tokens(1);
        finish();
        this.clock.setTimeout(() => {
          for (let i = 0; i < outcome.events; i++) this.#emit(call, request, { type: 'token', content: 'late' }, false);
        }, outcome.delayMs);
        return;
      case 'throw-sync':
        return;
    }
  }
}

function abortError(signal: AbortSignal | undefined): Error {
  const error = new Error('aborted', { cause: signal?.reason });
  error.name = 'AbortError';
  return error;
}
