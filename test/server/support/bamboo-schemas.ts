import { z } from 'zod';

/**
 * Bamboo's AgentEvent as its UI parses it (strict: no unknown fields), in one dialect. Written
 * from Bamboo's wire format, independently of Sprout's own schemas.
 */
export function bambooEventSchema(dialect: 'sub_session' | 'sub_agent'): z.ZodType {
  const p = dialect === 'sub_agent' ? 'sub_agent' : 'sub_session';
  const ids = { parent_session_id: z.string().min(1), child_session_id: z.string().min(1), run_id: z.string().min(1) };
  const leaf = [
    z.strictObject({ type: z.literal('token'), content: z.string() }),
    z.strictObject({ type: z.literal('reasoning_token'), content: z.string() }),
    z.strictObject({ type: z.literal('tool_start'), tool_call_id: z.string(), tool_name: z.string(), arguments: z.unknown() }),
    z.strictObject({
      type: z.literal('tool_complete'),
      tool_call_id: z.string(),
      result: z.strictObject({ success: z.boolean(), result: z.string(), display_preference: z.string().optional() }),
    }),
    z.strictObject({ type: z.literal('tool_error'), tool_call_id: z.string(), error: z.string() }),
    z.strictObject({
      type: z.literal('complete'),
      usage: z.looseObject({
        prompt_tokens: z.number().int().nonnegative(),
        completion_tokens: z.number().int().nonnegative(),
        total_tokens: z.number().int().nonnegative(),
      }),
    }),
    z.strictObject({ type: z.literal('error'), message: z.string() }),
    z.strictObject({ type: z.literal(`${p}_started`), ...ids, title: z.string().optional() }),
    z.strictObject({
      type: z.literal(`${p}_heartbeat`),
      ...ids,
      timestamp: z.string().regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/, 'RFC 3339 UTC'),
      events_seen: z.number().int().nonnegative(),
      last_event_at: z.string().optional(),
    }),
    z.strictObject({
      type: z.literal(`${p}_completed`),
      ...ids,
      status: z.enum(['completed', 'error', 'cancelled', 'skipped']),
      error: z.string().optional(),
      reason: z.enum(['user', 'parent', 'timeout', 'idle', 'deleted', 'shutdown', 'interrupted']).optional(),
      result: z.string().max(4000).optional(),
    }),
  ];
  const event: z.ZodType = z.union([
    ...leaf,
    z.strictObject({
      type: z.literal(`${p}_event`),
      ...ids,
      get event() {
        return event;
      },
    }),
  ]);
  return event;
}

/** Bamboo's session summary (GET /api/v1/sessions). */
export const bambooSummarySchema = z.strictObject({
  id: z.string(),
  kind: z.enum(['root', 'child']),
  title: z.string(),
  pinned: z.boolean(),
  parent_session_id: z.string().nullable(),
  root_session_id: z.string(),
  spawn_depth: z.number().int(),
  model: z.string(),
  created_at: z.string(),
  updated_at: z.string(),
  last_activity_at: z.string(),
  message_count: z.number().int(),
  has_attachments: z.boolean(),
  is_running: z.boolean(),
  last_run_status: z.string().nullable(),
  last_run_error: z.string().nullable(),
});

/**
 * Bamboo's SSE framing, strictly: the body is a sequence of `data: <json>\n\n` frames and
 * `: heartbeat\n\n` comments, nothing else (no `id:`, no `event:`, no multi-line data).
 */
export function parseBambooFrames(
  text: string,
  dialect: 'sub_session' | 'sub_agent',
): { events: { type: string; [key: string]: unknown }[]; heartbeats: number } {
  const schema = bambooEventSchema(dialect);
  const events: { type: string; [key: string]: unknown }[] = [];
  let heartbeats = 0;
  const blocks = text.split('\n\n');
  blocks.pop();
  for (const block of blocks) {
    if (block === ': heartbeat') {
      heartbeats += 1;
      continue;
    }
    if (!block.startsWith('data: ') || block.includes('\n')) throw new Error(`not a Bamboo frame: ${JSON.stringify(block.slice(0, 200))}`);
    const json: unknown = JSON.parse(block.slice(6));
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new Error(
        `frame fails Bamboo's schema (${dialect}): ${block.slice(0, 300)} — ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
      );
    events.push(json as { type: string; [key: string]: unknown });
  }
  return { events, heartbeats };
}
