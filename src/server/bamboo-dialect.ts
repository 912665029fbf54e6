import { completeUsage, toToolResult, type AgentEvent } from '../../machines/agent-event.events.js';
import type { BambooDialect } from './server-options.js';

/** A Bamboo wire event: Sprout's event with the dialect's sub-event names. */
export type BambooEvent = Record<string, unknown> & { type: string };

/** The four sub-session event types, renamed in the `sub_agent` dialect. */
type SubType = 'sub_session_started' | 'sub_session_event' | 'sub_session_heartbeat' | 'sub_session_completed';

/**
 * One of Sprout's events as Bamboo's server sends it, or `undefined` for events Bamboo does not
 * know (`stream_truncated`). In the `sub_agent` dialect the four sub-session events are renamed
 * `sub_agent_started`, `sub_agent_event`, `sub_agent_heartbeat`, `sub_agent_completed` (same
 * fields; nested forwarded events too). `tool_complete.result` and `complete.usage` are brought
 * to Bamboo's shape even for events logged before the schema normalized them.
 *
 * @example
 * toBambooEvent({ type: 'sub_session_started', parent_session_id: 'p', child_session_id: 'c', run_id: 'r' }, 'sub_agent');
 * // { type: 'sub_agent_started', parent_session_id: 'p', child_session_id: 'c', run_id: 'r' }
 */
export function toBambooEvent(event: AgentEvent, dialect: BambooDialect): BambooEvent | undefined {
  switch (event.type) {
    case 'stream_truncated':
      return undefined;
    case 'tool_complete':
      return { type: 'tool_complete', tool_call_id: event.tool_call_id, result: toToolResult(event.result) };
    case 'complete':
      return { type: 'complete', usage: completeUsage(event.usage) };
    case 'sub_session_event': {
      const inner = toBambooEvent(event.event, dialect);
      if (inner === undefined) return undefined;
      return { ...event, type: renamed(event.type, dialect), event: inner };
    }
    case 'sub_session_started':
    case 'sub_session_heartbeat':
    case 'sub_session_completed':
      return { ...event, type: renamed(event.type, dialect) };
    default:
      return event;
  }
}

function renamed(type: SubType, dialect: BambooDialect): string {
  return dialect === 'sub_agent' ? type.replace('sub_session_', 'sub_agent_') : type;
}
