import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';

/** What {@link EventLog.read} returns. */
export interface EventLogReadResult {
  /** Retained envelopes with `seq > afterSeq`, oldest first. */
  envelopes: SessionEventEnvelope[];
  /** Smallest retained seq of the session (undefined when nothing is retained). */
  firstRetainedSeq: number | undefined;
  /** Last seq ever assigned for the session (0 when none). */
  lastSeq: number;
}

/**
 * The per-session event log behind `scheduler.events()`: assigns `seq` (1, 2, 3, … per session,
 * never repeated, also across restarts for a durable log) and retains a bounded tail for replay.
 * Synchronous on purpose: publishing happens inside the forwarding hot path and must keep order.
 *
 * @example
 * const log = new MemoryEventLog({ retention: 1000 });
 * const envelope = log.append('root', { type: 'token', content: 'hi' }); // { seq: 1, sessionId: 'root', event }
 */
export interface EventLog {
  append(sessionId: string, event: AgentEvent): SessionEventEnvelope;
  read(sessionId: string, afterSeq: number): EventLogReadResult;
  /** Releases resources (closes files). Idempotent. */
  close?(): void;
}
