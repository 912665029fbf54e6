import { completeUsage, toToolResult, type AgentEvent } from '../../machines/agent-event.events.js';
import type { BambooDialect } from './server-options.js';

/** A Bamboo wire event: Sprout's event with the dialect's sub-event names. */
export type BambooEvent = Record<string, unknown> & { type: string };

/** The four sub-session event types, renamed in the `sub_agent` dialect. */
type SubType = 'sub_session_started' | 'sub_session_event' | 'sub_session_heartbeat' | 'sub_session_completed';

/**
 * What Bamboo's server says when a user stopped a run (both UIs show it as is).
 *
 * @example
 * ({ type: 'cancelled', message: USER_CANCEL_MESSAGE });
 */
export const USER_CANCEL_MESSAGE = 'Agent execution cancelled by user';

/** The `error` a cancelled run ends with on its own stream (`run cancelled (reason: user)`). */
const CANCELLED = /^run cancelled \(reason: ([a-z_]+)\)$/;

/**
 * The reason of a cancelled run's terminal `error` (`run cancelled (reason: user)` → `user`), or
 * `undefined` for any other event.
 *
 * @example
 * cancelReason({ type: 'error', message: 'run cancelled (reason: parent_cancelled)' }); // 'parent_cancelled'
 */
export function cancelReason(event: AgentEvent): string | undefined {
  return event.type === 'error' ? CANCELLED.exec(event.message)?.[1] : undefined;
}

/** The text a cancel carries: Bamboo's for a user's Stop, else Sprout's with the reason. */
const cancelText = (reason: string): string => (reason === 'user' ? USER_CANCEL_MESSAGE : `run cancelled (reason: ${reason})`);

/**
 * One of Sprout's events as Bamboo's server sends it, or `undefined` for events Bamboo does not
 * know (`stream_truncated`). In the `sub_agent` dialect the four sub-session events are renamed
 * `sub_agent_started`, `sub_agent_event`, `sub_agent_heartbeat`, `sub_agent_completed` (same
 * fields; nested forwarded events too). `tool_complete.result` and `complete.usage` are brought
 * to Bamboo's shape even for events logged before the schema normalized them.
 *
 * A cancelled run's terminal `error` (`run cancelled (reason: R)`) is Bamboo's `cancelled`
 * event in the `sub_agent` dialect (today's UIs handle it) and Bamboo's older `error` in the
 * `sub_session` dialect (legacy Lotus knows no `cancelled`: an unknown type would leave it
 * processing); for a user's Stop the text is Bamboo's `Agent execution cancelled by user`. A
 * `sub_session_completed` of a cancelled run carries that text as `error`, as Bamboo's does.
 *
 * @example
 * toBambooEvent({ type: 'sub_session_started', parent_session_id: 'p', child_session_id: 'c', run_id: 'r' }, 'sub_agent');
 * // { type: 'sub_agent_started', parent_session_id: 'p', child_session_id: 'c', run_id: 'r' }
 * toBambooEvent({ type: 'error', message: 'run cancelled (reason: user)' }, 'sub_agent');
 * // { type: 'cancelled', message: 'Agent execution cancelled by user' }
 */
export function toBambooEvent(event: AgentEvent, dialect: BambooDialect): BambooEvent | undefined {
  switch (event.type) {
    case 'stream_truncated':
      return undefined;
    case 'error': {
      const reason = cancelReason(event);
      if (reason === undefined) return event;
      return { type: dialect === 'sub_agent' ? 'cancelled' : 'error', message: cancelText(reason) };
    }
    case 'tool_complete':
      return { type: 'tool_complete', tool_call_id: event.tool_call_id, result: toToolResult(event.result) };
    case 'complete':
      return { type: 'complete', usage: completeUsage(event.usage) };
    case 'sub_session_event': {
      const inner = toBambooEvent(event.event, dialect);
      if (inner === undefined) return undefined;
      return { ...event, type: renamed(event.type, dialect), event: inner };
    }
    case 'sub_session_completed':
      if (event.status === 'cancelled' && event.error === undefined)
        return { ...event, type: renamed(event.type, dialect), error: cancelText(event.reason ?? 'user') };
      return { ...event, type: renamed(event.type, dialect) };
    case 'sub_session_started':
    case 'sub_session_heartbeat':
      return { ...event, type: renamed(event.type, dialect) };
    default:
      return event;
  }
}

function renamed(type: SubType, dialect: BambooDialect): string {
  return dialect === 'sub_agent' ? type.replace('sub_session_', 'sub_agent_') : type;
}
