/**
 * The ports (DESIGN §2) as documented public interfaces. Sprout's own adapters implement them;
 * `test/package/public-types.types.test.ts` checks that they match the internal port types.
 */
import type { AgentEvent, RunStatusMetadata, Session, SessionEventEnvelope } from './wire-types.js';

/**
 * Where sessions live. `save` replaces the whole session. Adapters may check `session.version`
 * for optimistic concurrency (throwing `SessionConflictError`) and then write the new version
 * back into the object they were given. Every adapter should pass the conformance suite.
 *
 * @example
 * const store: SessionStore = new MemorySessionStore();
 * await store.save(session);
 * const again = await store.load(session.id);
 */
export interface SessionStore {
  /** The session with this id, or `undefined` when there is none. */
  load(id: string): Promise<Session | undefined>;
  /** Creates or replaces the session. */
  save(session: Session): Promise<void>;
  /** Deletes the session; resolves `true` when it existed. */
  delete(id: string): Promise<boolean>;
  /** The sessions whose `parent_session_id` is this one. */
  listChildren(parentSessionId: string): Promise<Session[]>;
  /**
   * Child sessions whose metadata `last_run_status` is one of `statuses` (used by recovery in
   * `start()`). Optional: a store without it gets no recovery.
   */
  listByRunStatus?(statuses: readonly RunStatusMetadata[]): Promise<Session[]>;
}

/**
 * What one agent run gets besides the session.
 *
 * @example
 * const request: ExecuteRequest = { model: 'gpt-4o', signal: AbortSignal.timeout(60_000), emit: (event) => console.log(event.type) };
 */
export interface ExecuteRequest {
  /** The model this run uses (the job's `model`). */
  model: string;
  /** Aborts when the run is cancelled or times out; the agent must stop soon after. */
  signal: AbortSignal;
  /**
   * Emits one event of the child; Sprout validates it and forwards it to the parent as
   * `sub_session_event`. An invalid event ends the run in `error`.
   */
  emit(event: AgentEvent): void;
  /** Opaque tools, passed through from the scheduler's `tools` option. */
  tools?: unknown;
}

/**
 * An agent loop. `execute` runs it on `session` (the job's working copy: append the messages the
 * agent produces to `session.messages`; the last assistant message is the run's answer), emits
 * events through `request.emit`, resolves on success and rejects on failure, and stops soon after
 * `request.signal` aborts.
 *
 * @example
 * const echo: AgentRuntime = {
 *   async execute(session, { emit }) {
 *     emit({ type: 'token', content: 'hi' });
 *     session.messages.push({ id: crypto.randomUUID(), role: 'assistant', content: 'hi', created_at: new Date().toISOString() });
 *   },
 * };
 */
export interface AgentRuntime {
  /** Runs the agent loop on `session`; resolves on success, rejects on failure. */
  execute(session: Session, request: ExecuteRequest): Promise<void>;
}

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
 *
 * @example
 * const open: OpenRun = { runId: 'r1', parentSessionId: 'root', childSessionId: 'c1', startedSeq: 3 };
 */
export interface OpenRun {
  /** The run's id. */
  runId: string;
  /** The parent whose stream announced it. */
  parentSessionId: string;
  /** The child that runs. */
  childSessionId: string;
  /** The child's title, when the announcement carried one. */
  title?: string | undefined;
  /** Seq of the `sub_session_started` on the parent's stream. */
  startedSeq: number;
}

/**
 * The per-session event log behind `scheduler.events()`: assigns `seq` (1, 2, 3, … per session,
 * never repeated, also across restarts for a durable log) and retains a bounded tail for replay.
 * Synchronous on purpose: publishing happens on the forwarding hot path and must keep order.
 *
 * @example
 * const log: EventLog = new MemoryEventLog({ retention: 1000 });
 * const envelope = log.append('root', { type: 'token', content: 'hi' }); // { seq: 1, sessionId: 'root', event }
 */
export interface EventLog {
  /** Assigns the next `seq` of the session to the event, retains it, and returns the envelope. */
  append(sessionId: string, event: AgentEvent): SessionEventEnvelope;
  /** The retained events of the session after `afterSeq`. */
  read(sessionId: string, afterSeq: number): EventLogReadResult;
  /**
   * Runs announced on this log and not yet completed, oldest first, maintained by `append` in
   * the same write as the events. Optional: a log without it gets recovery from the stored run
   * status only.
   */
  openRuns?(): OpenRun[];
  /** True when appended events survive a restart (the scheduler's recovery then trusts `openRuns`). */
  readonly durable?: boolean;
  /** Releases resources (closes files). Idempotent. */
  close?(): void;
}
