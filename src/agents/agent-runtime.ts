import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';

/** What one agent run gets besides the session (DESIGN §2). */
export interface ExecuteRequest {
  model: string;
  /** Aborts when the run is cancelled or times out; the agent must stop soon after. */
  signal: AbortSignal;
  /** Emits one event of the child; Sprout validates it and forwards it to the parent. */
  emit(event: AgentEvent): void;
  /** Opaque tools, passed through from the scheduler options. */
  tools?: unknown;
}

/**
 * An agent loop (DESIGN §2 port). Appends messages to `session.messages` (the job's working
 * copy), emits events through `request.emit`, resolves on success and rejects on failure.
 *
 * @example
 * const echo: AgentRuntime = {
 *   async execute(session, { emit }) {
 *     emit({ type: 'token', content: 'hi' });
 *     session.messages.push({ id: 'a1', role: 'assistant', content: 'hi', created_at: new Date().toISOString() });
 *   },
 * };
 */
export interface AgentRuntime {
  execute(session: Session, request: ExecuteRequest): Promise<void>;
}
