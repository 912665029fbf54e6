import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { OpenRun } from './event-log.js';

/** How one appended event changes the run ledger of an event log. */
export type LedgerChange = { kind: 'open'; run: OpenRun } | { kind: 'close'; runId: string };

/**
 * The ledger change an event makes when appended to `sessionId`'s stream: a
 * `sub_session_started` on its parent's stream opens the run, a `sub_session_completed` closes
 * it; any other event changes nothing.
 *
 * @example
 * ledgerChange('p', 7, { type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', run_id: 'r1', status: 'completed' });
 * // { kind: 'close', runId: 'r1' }
 */
export function ledgerChange(sessionId: string, seq: number, event: AgentEvent): LedgerChange | undefined {
  if (event.type === 'sub_session_started' && event.parent_session_id === sessionId) {
    const run: OpenRun = { runId: event.run_id, parentSessionId: sessionId, childSessionId: event.child_session_id, startedSeq: seq };
    if (event.title !== undefined) run.title = event.title;
    return { kind: 'open', run };
  }
  if (event.type === 'sub_session_completed' && event.parent_session_id === sessionId) return { kind: 'close', runId: event.run_id };
  return undefined;
}
