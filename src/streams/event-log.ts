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
 * A run the log saw announced (`sub_session_started` appended) and not yet ended
 * (`sub_session_completed` not appended): the run ledger that crash recovery is driven by.
 */
export interface OpenRun {
  runId: string;
  parentSessionId: string;
  childSessionId: string;
  title?: string | undefined;
  /** Seq of the `sub_session_started` on the parent's stream. */
  startedSeq: number;
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
  /**
   * Runs announced on this log and not yet completed, oldest first. Maintained by `append`
   * itself (a `sub_session_started` opens a run, its `sub_session_completed` closes it), in the
   * same write as the events, so a durable log's ledger never disagrees with its streams.
   * Optional: a log without it gets recovery from the stored run status only.
   */
  openRuns?(): OpenRun[];
  /** True when appended events survive a restart (the scheduler's recovery trusts `openRuns`). */
  readonly durable?: boolean;
  /** Releases resources (closes files). Idempotent. */
  close?(): void;
}
