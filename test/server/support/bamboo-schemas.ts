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

/** Bamboo's session summary (GET /api/v1/sessions), the fields the two UIs read (§1.1 of the contract). */
export const bambooSummarySchema = z.strictObject({
  id: z.string(),
  project_id: z.null(),
  kind: z.enum(['root', 'child']),
  title: z.string(),
  title_version: z.number().int().nonnegative(),
  title_generated: z.boolean(),
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
  last_run_status: z.enum(['pending', 'running', 'completed', 'error', 'cancelled']).optional(),
  last_run_error: z.string().optional(),
  has_pending_question: z.boolean(),
  running_child_count: z.number().int().nonnegative(),
  subagent_count: z.number().int().nonnegative(),
  bypass_permissions: z.boolean(),
  permission_mode: z.enum(['default', 'bypass', 'auto']),
  placement: z.strictObject({ kind: z.enum(['local', 'docker', 'ssh']), host: z.string() }),
});

/**
 * Bamboo's SSE framing, strictly: the body is a sequence of `[id: <seq>\n]data: <json>\n\n`
 * frames, `data: [DONE]\n\n` (last) and `: heartbeat\n\n` comments, nothing else (no `event:`,
 * no multi-line data).
 */
export function parseBambooFrames(
  text: string,
  dialect: 'sub_session' | 'sub_agent',
): { events: { type: string; [key: string]: unknown }[]; heartbeats: number; ids: number[]; done: boolean } {
  const schema = bambooEventSchema(dialect);
  const events: { type: string; [key: string]: unknown }[] = [];
  const ids: number[] = [];
  let heartbeats = 0;
  let done = false;
  const blocks = text.split('\n\n');
  blocks.pop();
  for (const raw of blocks) {
    if (raw === ': heartbeat') {
      heartbeats += 1;
      continue;
    }
    if (done) throw new Error(`a frame after [DONE]: ${JSON.stringify(raw.slice(0, 200))}`);
    const id = /^id: (\d+)\n/.exec(raw);
    const block = id === null ? raw : raw.slice(id[0].length);
    if (id !== null) ids.push(Number(id[1]));
    if (!block.startsWith('data: ') || block.includes('\n')) throw new Error(`not a Bamboo frame: ${JSON.stringify(raw.slice(0, 200))}`);
    if (block === 'data: [DONE]') {
      done = true;
      continue;
    }
    const json: unknown = JSON.parse(block.slice(6));
    const parsed = schema.safeParse(json);
    if (!parsed.success)
      throw new Error(
        `frame fails Bamboo's schema (${dialect}): ${block.slice(0, 300)} — ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`,
      );
    events.push(json as { type: string; [key: string]: unknown });
  }
  return { events, heartbeats, ids, done };
}
