import { z } from 'zod';
import { runStatusMetadataSchema, type RunStatusMetadata } from './run-status.js';

/** Roles a message can have, as in Bamboo. */
export const messageRoleSchema = z.enum(['system', 'user', 'assistant', 'tool']);
/** A message role. */
export type MessageRole = z.infer<typeof messageRoleSchema>;

/**
 * One message of a session (Bamboo wire shape, snake_case). Unknown fields are kept, so a
 * Bamboo message with tool calls survives a round trip through Sprout unchanged.
 *
 * @example
 * messageSchema.parse({ id: 'm1', role: 'user', content: 'hi', created_at: '2026-01-01T00:00:00.000Z' });
 */
export const messageSchema = z.looseObject({
  id: z.string().min(1),
  role: messageRoleSchema,
  content: z.string(),
  created_at: z.string(),
  tool_call_id: z.string().optional(),
});
/** A message of a session. */
export type Message = z.infer<typeof messageSchema>;

/** `root` for a top-level session, `child` for a spawned sub-session. */
export const sessionKindSchema = z.enum(['root', 'child']);
/** Session kind. */
export type SessionKind = z.infer<typeof sessionKindSchema>;

/** `last_run_status` values written on a child session's metadata (derived in `run-status.ts`). */
export { runStatusMetadataSchema, type RunStatusMetadata };

/**
 * A session (Bamboo wire shape). A session with just these fields is valid; unknown fields are
 * kept. `version` is Sprout's optimistic-concurrency counter (optional, managed by the store).
 *
 * @example
 * const session = sessionSchema.parse(json); // throws on bad input; use safeParse at the edges
 */
export const sessionSchema = z.looseObject({
  id: z.string().min(1),
  title: z.string(),
  kind: sessionKindSchema,
  parent_session_id: z.string().min(1).optional(),
  root_session_id: z.string().min(1),
  spawn_depth: z.number().int().nonnegative(),
  model: z.string(),
  messages: z.array(messageSchema),
  metadata: z.record(z.string(), z.string()),
  created_at: z.string(),
  updated_at: z.string(),
  version: z.number().int().nonnegative().optional(),
});
/** A session. */
export type Session = z.infer<typeof sessionSchema>;

/** Metadata keys Sprout writes on a child session. */
export const METADATA_KEYS = {
  status: 'last_run_status',
  error: 'last_run_error',
  runId: 'last_run_id',
} as const;
