import type { Message, Session } from '../../machines/session.schema.js';

/**
 * Most messages a full `GET /api/v1/history/{id}` returns (the tail), as Bamboo caps it.
 *
 * @example
 * session.messages.slice(-MAX_HISTORY_MESSAGES);
 */
export const MAX_HISTORY_MESSAGES = 2000;

/**
 * Bamboo's `GET /api/v1/history/{id}` answer.
 *
 * @example
 * const history: BambooHistory = toBambooHistory(session);
 */
export interface BambooHistory {
  session_id: string;
  messages: Record<string, unknown>[];
  is_delta: boolean;
  truncated: boolean;
  total_message_count: number;
  compression_events: never[];
}

/**
 * One stored message in Bamboo's history shape. Assistant messages keep `tool_calls`
 * (`[{ id, type: 'function', function: { name, arguments } }]`, as the AI SDK agent stores them);
 * a tool result (`role: 'tool'`, `tool_call_id`, `tool_name`) gets `tool_success` (false when the
 * agent stored `is_error`). Other fields pass through.
 *
 * @example
 * toBambooMessage({ id: 't1', role: 'tool', content: 'boom', tool_call_id: 'c1', is_error: true, created_at });
 * // { id: 't1', role: 'tool', content: 'boom', tool_call_id: 'c1', tool_success: false, created_at }
 */
export function toBambooMessage(message: Message): Record<string, unknown> {
  if (message.role !== 'tool') return { ...message };
  const { is_error: isError, ...rest } = message;
  return { ...rest, tool_success: isError !== true };
}

/**
 * A session's history as Bamboo serves it: every message (`since_message_id`: only those after
 * that one, `is_delta: true`), at most {@link MAX_HISTORY_MESSAGES} from the tail, never starting
 * with a tool result whose call was cut off.
 *
 * @example
 * toBambooHistory(session); // { session_id, messages, is_delta: false, truncated: false, total_message_count, compression_events: [] }
 */
export function toBambooHistory(session: Session, sinceMessageId?: string): BambooHistory {
  const all = session.messages;
  const since = sinceMessageId === undefined ? -1 : all.findIndex((message) => message.id === sinceMessageId);
  let messages = since >= 0 ? all.slice(since + 1) : all;
  let truncated = false;
  if (messages.length > MAX_HISTORY_MESSAGES) {
    truncated = true;
    messages = messages.slice(-MAX_HISTORY_MESSAGES);
    while (messages[0]?.role === 'tool') messages = messages.slice(1);
  }
  return {
    session_id: session.id,
    messages: messages.map(toBambooMessage),
    is_delta: since >= 0,
    truncated,
    total_message_count: all.length,
    compression_events: [],
  };
}
