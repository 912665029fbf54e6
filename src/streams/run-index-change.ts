import type { AgentEvent } from '../../machines/agent-event.events.js';

/**
 * How one appended event changes the run index (`runs`) of an event log:
 * - `announce`: `sub_session_started` on the parent's stream adds the run, `queued`;
 * - `running`: its first `sub_session_heartbeat` marks it running (at the heartbeat's timestamp);
 * - `usage`: the child's `complete`, forwarded to the parent as `sub_session_event`, gives tokens;
 * - `end`: `sub_session_completed` records its status, reason, error and end.
 *
 * `at` is the write time (RFC 3339) the adapter stamps the change with.
 */
export type RunIndexChange =
  | {
      kind: 'announce';
      runId: string;
      parentSessionId: string;
      childSessionId: string;
      title: string | null;
      seq: number;
      at: string;
    }
  | { kind: 'running'; runId: string; at: string }
  | { kind: 'usage'; runId: string; prompt: number; completion: number; total: number }
  | { kind: 'end'; runId: string; status: string; reason: string | null; error: string | null; seq: number; at: string };

/**
 * The run-index change an event makes when appended to `sessionId`'s stream at `at`, or
 * `undefined` (most events). Only events on the announcing parent's own stream count, so the
 * copies forwarded further up the tree change nothing.
 *
 * @example
 * runIndexChange('p', 4, { type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', run_id: 'r1', status: 'error', error: 'boom' }, now);
 * // { kind: 'end', runId: 'r1', status: 'error', reason: null, error: 'boom', seq: 4, at: now }
 */
export function runIndexChange(sessionId: string, seq: number, event: AgentEvent, at: string): RunIndexChange | undefined {
  switch (event.type) {
    case 'sub_session_started':
      if (event.parent_session_id !== sessionId) return undefined;
      return {
        kind: 'announce',
        runId: event.run_id,
        parentSessionId: sessionId,
        childSessionId: event.child_session_id,
        title: event.title ?? null,
        seq,
        at,
      };
    case 'sub_session_heartbeat':
      return event.parent_session_id === sessionId ? { kind: 'running', runId: event.run_id, at: event.timestamp } : undefined;
    case 'sub_session_event': {
      if (event.parent_session_id !== sessionId || event.event.type !== 'complete') return undefined;
      const usage = event.event.usage;
      const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
      return {
        kind: 'usage',
        runId: event.run_id,
        prompt: count(usage.prompt_tokens),
        completion: count(usage.completion_tokens),
        total: count(usage.total_tokens),
      };
    }
    case 'sub_session_completed':
      if (event.parent_session_id !== sessionId) return undefined;
      return { kind: 'end', runId: event.run_id, status: event.status, reason: event.reason ?? null, error: event.error ?? null, seq, at };
    default:
      return undefined;
  }
}
