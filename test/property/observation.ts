import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { AgentCall } from './chaos-agent.js';

/** A completion event. */
export type Completion = Extract<AgentEvent, { type: 'sub_session_completed' }>;

/** One envelope as it arrived on a live subscriber, with its place in the global arrival order. */
export interface Seen {
  index: number;
  sessionId: string;
  envelope: SessionEventEnvelope;
}

/** A promise's fate, observed without awaiting it. */
export interface Tracked<T> {
  settled: boolean;
  value?: T;
  error?: unknown;
  /** Global arrival index when it settled. */
  at?: number;
}

/** A cancel request the test made: which child, why, and when (global arrival index). */
export interface CancelRequest {
  /** The child for `cancel`, the subtree root for `cancelTree`. */
  sessionId: string;
  reason: 'user' | 'parent';
  at: number;
  /** What `cancel()` resolved with. */
  answer?: Tracked<boolean>;
}

/** What the agent looked like when a completion arrived (for the forwarding checks). */
export interface CompletionContext {
  seen: Seen;
  /** The child's latest resolved agent call at that moment. */
  resolvedCall: AgentCall | undefined;
}

/** Names the run a wire event belongs to (undefined for events that are not a run's). */
export function runIdOf(event: AgentEvent): string | undefined {
  return 'run_id' in event ? event.run_id : undefined;
}

/** Starts tracking a promise. */
export function track<T>(promise: Promise<T>, now: () => number): Tracked<T> {
  const tracked: Tracked<T> = { settled: false };
  promise.then(
    (value) => {
      tracked.settled = true;
      tracked.value = value;
      tracked.at = now();
    },
    (error: unknown) => {
      tracked.settled = true;
      tracked.error = error;
      tracked.at = now();
    },
  );
  return tracked;
}

/** Runs a call that may throw synchronously, as a promise. */
export function attempt<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Short text for a value in a violation message (never throws). */
export function show(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
