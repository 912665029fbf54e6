import type { Message, Session } from '../../../machines/session.schema.js';
import type { StoredToolCall } from './to-model-messages.js';

/** Collects one model step and appends it to the session as Bamboo-shaped messages. */
export interface StepRecorder {
  text(delta: string): void;
  reasoning(delta: string): void;
  toolCall(toolCallId: string, toolName: string, input: unknown): void;
  toolResult(toolCallId: string, toolName: string, output: unknown): void;
  toolError(toolCallId: string, toolName: string, error: string): void;
  /** Appends the step (assistant message, then one `tool` message per result) and starts a new one. */
  flush(): void;
}

/** What every new message gets: an id and a creation time. */
export type MessageStamp = () => Pick<Message, 'id' | 'created_at'>;

interface ToolOutcome {
  toolCallId: string;
  toolName: string;
  content: string;
  isError: boolean;
}

/**
 * Records the parts of one step and, on `flush()`, appends to `session.messages`:
 * an assistant message `{ role: 'assistant', content, reasoning?, tool_calls? }` (skipped when the
 * step produced nothing), then `{ role: 'tool', tool_call_id, tool_name, content, is_error? }`
 * per tool result in the order they arrived. Non-string tool outputs are stored as JSON text.
 *
 * @example
 * const step = createStepRecorder(session, () => ({ id: randomUUID(), created_at: toRfc3339(clock.now()) }));
 * step.text('Hello'); step.flush(); // session.messages ends with the assistant 'Hello'
 */
export function createStepRecorder(session: Session, stamp: MessageStamp): StepRecorder {
  let text = '';
  let reasoning = '';
  let calls: StoredToolCall[] = [];
  let outcomes: ToolOutcome[] = [];

  return {
    text: (delta) => void (text += delta),
    reasoning: (delta) => void (reasoning += delta),
    toolCall(toolCallId, toolName, input) {
      calls.push({ id: toolCallId, type: 'function', function: { name: toolName, arguments: toJsonText(input) } });
    },
    toolResult(toolCallId, toolName, output) {
      outcomes.push({ toolCallId, toolName, content: typeof output === 'string' ? output : toJsonText(output), isError: false });
    },
    toolError(toolCallId, toolName, error) {
      outcomes.push({ toolCallId, toolName, content: error, isError: true });
    },
    flush() {
      if (text !== '' || reasoning !== '' || calls.length > 0) {
        session.messages.push({
          ...stamp(),
          role: 'assistant',
          content: text,
          ...(reasoning === '' ? {} : { reasoning }),
          ...(calls.length === 0 ? {} : { tool_calls: calls }),
        });
      }
      for (const outcome of outcomes) {
        session.messages.push({
          ...stamp(),
          role: 'tool',
          content: outcome.content,
          tool_call_id: outcome.toolCallId,
          tool_name: outcome.toolName,
          ...(outcome.isError ? { is_error: true } : {}),
        });
      }
      text = '';
      reasoning = '';
      calls = [];
      outcomes = [];
    },
  };
}

/** JSON text of a value; `String(value)` for what JSON cannot encode (cycles, BigInt, undefined). */
function toJsonText(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
