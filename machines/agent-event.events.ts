import { z } from 'zod';
import { completionStatusSchema, type CompletionStatus } from './run-status.js';

/** The three counters of Bamboo's `complete.usage`, as agents may report them (any may be missing). */
export interface Usage {
  prompt_tokens?: number | undefined;
  completion_tokens?: number | undefined;
  total_tokens?: number | undefined;
  [counter: string]: unknown;
}

/**
 * Fills in the counters Bamboo requires: a missing `prompt_tokens` / `completion_tokens` is 0 and
 * a missing `total_tokens` is their sum. Other fields are kept.
 *
 * @example
 * completeUsage({ completion_tokens: 7 }); // { prompt_tokens: 0, completion_tokens: 7, total_tokens: 7 }
 */
export function completeUsage(usage: unknown): unknown {
  if (typeof usage !== 'object' || usage === null || Array.isArray(usage)) return usage;
  const counters = usage as Usage;
  const prompt = counters.prompt_tokens ?? 0;
  const completion = counters.completion_tokens ?? 0;
  return { ...counters, prompt_tokens: prompt, completion_tokens: completion, total_tokens: counters.total_tokens ?? prompt + completion };
}

/**
 * Token usage reported with `complete`. Agents may leave counters out; validation fills them in
 * ({@link completeUsage}), so on the wire all three are always present, as Bamboo requires.
 */
export const usageSchema: z.ZodType<Usage> = z.preprocess(
  completeUsage,
  z.looseObject({
    prompt_tokens: z.number().nonnegative(),
    completion_tokens: z.number().nonnegative(),
    total_tokens: z.number().nonnegative(),
  }),
);

/**
 * Bamboo's `tool_complete.result`: `{ success, result, display_preference? }` (`result` is text).
 *
 * @example
 * toolResultSchema.parse({ success: true, result: '3 hits' });
 */
export const toolResultSchema = z.strictObject({
  success: z.boolean(),
  result: z.string(),
  display_preference: z.string().optional(),
});
/** Bamboo's tool result object. */
export type ToolResult = z.infer<typeof toolResultSchema>;

/**
 * Any tool output as Bamboo's {@link ToolResult}: a value that already has that shape is kept, a
 * string becomes `{ success: true, result }`, anything else is JSON-encoded into `result`.
 *
 * @example
 * toToolResult({ sum: 5 }); // { success: true, result: '{"sum":5}' }
 */
export function toToolResult(output: unknown): ToolResult {
  const parsed = toolResultSchema.safeParse(output);
  if (parsed.success) return parsed.data;
  if (typeof output === 'string') return { success: true, result: output };
  if (output === undefined) return { success: true, result: '' };
  let text: string | undefined;
  try {
    text = JSON.stringify(output);
  } catch {
    text = undefined;
  }
  // JSON.stringify gives undefined for functions and symbols, and throws on cycles and bigints.
  return { success: true, result: text ?? Object.prototype.toString.call(output) };
}

/** Terminal statuses a run can report in `sub_session_completed` (derived in `run-status.ts`). */
export { completionStatusSchema, type CompletionStatus };

/** Why a run ended the way it did (`sub_session_completed.reason`). */
export const completionReasonSchema = z.enum(['user', 'parent', 'timeout', 'idle', 'deleted', 'shutdown', 'interrupted']);
/** A completion reason. */
export type CompletionReason = z.infer<typeof completionReasonSchema>;

/** Events an agent loop emits itself (everything but the sub-session envelopes). */
export const tokenEventSchema = z.object({ type: z.literal('token'), content: z.string() });
export const reasoningTokenEventSchema = z.object({ type: z.literal('reasoning_token'), content: z.string() });
export const toolStartEventSchema = z.object({
  type: z.literal('tool_start'),
  tool_call_id: z.string(),
  tool_name: z.string(),
  arguments: z.unknown(),
});
/**
 * `tool_complete`. Agents may emit any JSON as `result`; validation turns it into Bamboo's
 * {@link ToolResult} object ({@link toToolResult}), which is what the wire carries.
 */
export const toolCompleteEventSchema = z.object({
  type: z.literal('tool_complete'),
  tool_call_id: z.string(),
  result: z.preprocess(toToolResult, toolResultSchema) as unknown as z.ZodType<unknown>,
});
export const toolErrorEventSchema = z.object({ type: z.literal('tool_error'), tool_call_id: z.string(), error: z.string() });
export const completeEventSchema = z.object({ type: z.literal('complete'), usage: usageSchema });
export const errorEventSchema = z.object({ type: z.literal('error'), message: z.string() });

/** `sub_session_started`: published on the parent once a child's run is queued. */
export const subSessionStartedEventSchema = z.object({
  type: z.literal('sub_session_started'),
  parent_session_id: z.string(),
  child_session_id: z.string(),
  title: z.string().optional(),
  run_id: z.string(),
});

/** `sub_session_heartbeat`: published on the parent while a child runs. */
export const subSessionHeartbeatEventSchema = z.object({
  type: z.literal('sub_session_heartbeat'),
  parent_session_id: z.string(),
  child_session_id: z.string(),
  run_id: z.string(),
  /** RFC 3339 UTC (`2026-01-01T00:00:00.000Z`). */
  timestamp: z.iso.datetime(),
  events_seen: z.number().int().nonnegative(),
  last_event_at: z.string().optional(),
  /** While the child waits for its own children (it holds no slot): the children it waits for. */
  waiting_on: z.array(z.string()).optional(),
});

/** `sub_session_completed`: exactly one per run, after the child session was persisted. */
export const subSessionCompletedEventSchema = z.object({
  type: z.literal('sub_session_completed'),
  parent_session_id: z.string(),
  child_session_id: z.string(),
  run_id: z.string(),
  status: completionStatusSchema,
  error: z.string().optional(),
  reason: completionReasonSchema.optional(),
  result: z.string().max(4000).optional(),
});

/** `stream_truncated`: a replay asked for events older than the retained ones. */
export const streamTruncatedEventSchema = z.object({
  type: z.literal('stream_truncated'),
  first_retained_seq: z.number().int().positive(),
});

/** The non-recursive members of {@link agentEventSchema}. */
const leafEventSchemas = [
  tokenEventSchema,
  reasoningTokenEventSchema,
  toolStartEventSchema,
  toolCompleteEventSchema,
  toolErrorEventSchema,
  completeEventSchema,
  errorEventSchema,
  subSessionStartedEventSchema,
  subSessionHeartbeatEventSchema,
  subSessionCompletedEventSchema,
  streamTruncatedEventSchema,
] as const;

/** `sub_session_event`: one child event forwarded to the parent. */
export interface SubSessionEvent {
  type: 'sub_session_event';
  parent_session_id: string;
  child_session_id: string;
  run_id: string;
  event: AgentEvent;
}

/** An event of an agent session (Bamboo wire shape, tagged by `type`). */
export type AgentEvent = z.infer<(typeof leafEventSchemas)[number]> | SubSessionEvent;

/** Schema of `sub_session_event` (recursive: the child's event may itself be a forwarded one). */
export const subSessionEventSchema: z.ZodType<SubSessionEvent> = z.object({
  type: z.literal('sub_session_event'),
  parent_session_id: z.string(),
  child_session_id: z.string(),
  run_id: z.string(),
  get event(): z.ZodType<AgentEvent> {
    return agentEventSchema;
  },
});

/**
 * Every event an agent session can carry, as a zod discriminated union.
 *
 * @example
 * const parsed = agentEventSchema.safeParse({ type: 'token', content: 'Hel' });
 * if (parsed.success) console.log(parsed.data.type);
 */
export const agentEventSchema: z.ZodType<AgentEvent> = z.discriminatedUnion('type', [
  ...leafEventSchemas,
  subSessionEventSchema as unknown as z.ZodObject<{ type: z.ZodLiteral<'sub_session_event'> }>,
]) as unknown as z.ZodType<AgentEvent>;

/** The `type` tags of {@link AgentEvent}. */
export type AgentEventType = AgentEvent['type'];
/** The member of {@link AgentEvent} with tag `T`. */
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>;
/** `sub_session_completed`. */
export type SubSessionCompletedEvent = AgentEventOf<'sub_session_completed'>;
/** `sub_session_started`. */
export type SubSessionStartedEvent = AgentEventOf<'sub_session_started'>;
/** `sub_session_heartbeat`. */
export type SubSessionHeartbeatEvent = AgentEventOf<'sub_session_heartbeat'>;

/** One event of a session stream: `seq` starts at 1 and grows by one per session. */
export const sessionEventEnvelopeSchema = z.object({
  seq: z.number().int().positive(),
  sessionId: z.string(),
  event: agentEventSchema,
});
/** An event of a session stream with its sequence number. */
export interface SessionEventEnvelope {
  seq: number;
  sessionId: string;
  event: AgentEvent;
}
