import type { AssistantModelMessage, ModelMessage, ToolModelMessage } from 'ai';
import type { Message } from '../../../machines/session.schema.js';

/**
 * A tool call as stored on an assistant message (`tool_calls`, the OpenAI / Bamboo shape:
 * `arguments` is a JSON string).
 */
export interface StoredToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/**
 * Converts a session's messages (Bamboo shape) to AI SDK `ModelMessage`s.
 *
 * - `system` / `user` → the same role with the text content;
 * - `assistant` → text, plus a `tool-call` part per entry of `tool_calls` (arguments parsed from JSON);
 * - `tool` → a `tool-result` for `tool_call_id`; the tool name comes from the message's `tool_name`
 *   or from the assistant call it answers; `is_error: true` sends it as an error result.
 *
 * Stored `reasoning` is not sent back to the model. Messages the model cannot use (a `tool`
 * message without `tool_call_id`) are skipped.
 *
 * @example
 * toModelMessages([{ id: 'm1', role: 'user', content: 'hi', created_at: '2026-01-01T00:00:00.000Z' }]);
 * // [{ role: 'user', content: 'hi' }]
 */
export function toModelMessages(messages: readonly Message[]): ModelMessage[] {
  const toolNames = new Map<string, string>();
  const out: ModelMessage[] = [];
  for (const message of messages) {
    switch (message.role) {
      case 'system':
      case 'user':
        out.push({ role: message.role, content: message.content });
        break;
      case 'assistant':
        out.push(toAssistantMessage(message, toolNames));
        break;
      case 'tool': {
        const result = toToolMessage(message, toolNames);
        if (result) out.push(result);
        break;
      }
    }
  }
  return out;
}

function toAssistantMessage(message: Message, toolNames: Map<string, string>): AssistantModelMessage {
  const calls = readToolCalls(message);
  if (calls.length === 0) return { role: 'assistant', content: message.content };
  const content: Exclude<AssistantModelMessage['content'], string> = [];
  if (message.content !== '') content.push({ type: 'text', text: message.content });
  for (const call of calls) {
    toolNames.set(call.id, call.function.name);
    content.push({ type: 'tool-call', toolCallId: call.id, toolName: call.function.name, input: parseArguments(call.function.arguments) });
  }
  return { role: 'assistant', content };
}

function toToolMessage(message: Message, toolNames: Map<string, string>): ToolModelMessage | undefined {
  const toolCallId = message.tool_call_id;
  if (toolCallId === undefined) return undefined;
  const toolName = typeof message['tool_name'] === 'string' ? message['tool_name'] : (toolNames.get(toolCallId) ?? 'unknown');
  const isError = message['is_error'] === true;
  return {
    role: 'tool',
    content: [
      {
        type: 'tool-result',
        toolCallId,
        toolName,
        output: isError ? { type: 'error-text', value: message.content } : { type: 'text', value: message.content },
      },
    ],
  };
}

/** Reads `tool_calls` off an assistant message, keeping only well-formed entries. */
export function readToolCalls(message: Message): StoredToolCall[] {
  const raw = message['tool_calls'];
  if (!Array.isArray(raw)) return [];
  return raw.filter(isStoredToolCall);
}

function isStoredToolCall(value: unknown): value is StoredToolCall {
  if (typeof value !== 'object' || value === null) return false;
  const call = value as { id?: unknown; function?: { name?: unknown; arguments?: unknown } | null };
  return typeof call.id === 'string' && typeof call.function?.name === 'string' && typeof call.function.arguments === 'string';
}

function parseArguments(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
