/**
 * The zod schemas of the wire format that Sprout exports, typed with the public interfaces of
 * `wire-types.ts` / `scheduler-types.ts`: validate what comes from outside (a Bamboo UI, a file,
 * a queue) with `safeParse` before handing it to Sprout.
 */
import type { z } from 'zod';
import { agentEventSchema as agentEvent, sessionEventEnvelopeSchema as sessionEventEnvelope } from '../../machines/agent-event.events.js';
import { messageSchema as message, sessionSchema as session } from '../../machines/session.schema.js';
import { spawnBriefSchema as spawnBrief, spawnJobSchema as spawnJob } from '../../machines/spawn-job.events.js';
import type { SpawnBrief, SpawnJob } from './scheduler-types.js';
import type { AgentEvent, Message, Session, SessionEventEnvelope } from './wire-types.js';

/**
 * Schema of a {@link Session} (unknown fields are kept).
 *
 * @example
 * const parsed = sessionSchema.safeParse(JSON.parse(text));
 * if (parsed.success) await store.save(parsed.data);
 */
export const sessionSchema: z.ZodType<Session> = session;

/**
 * Schema of a {@link Message} (unknown fields are kept).
 *
 * @example
 * messageSchema.parse({ id: 'm1', role: 'user', content: 'hi', created_at: '2026-01-01T00:00:00.000Z' });
 */
export const messageSchema: z.ZodType<Message> = message;

/**
 * Schema of every {@link AgentEvent}, tagged by `type`.
 *
 * @example
 * const parsed = agentEventSchema.safeParse({ type: 'token', content: 'Hel' });
 * if (parsed.success) console.log(parsed.data.type);
 */
export const agentEventSchema: z.ZodType<AgentEvent> = agentEvent;

/**
 * Schema of a {@link SessionEventEnvelope} (`{ seq, sessionId, event }`).
 *
 * @example
 * const envelope = sessionEventEnvelopeSchema.parse(JSON.parse(sseData));
 */
export const sessionEventEnvelopeSchema: z.ZodType<SessionEventEnvelope> = sessionEventEnvelope;

/**
 * Schema of a {@link SpawnJob} (what `enqueue` takes; extra fields are refused).
 *
 * @example
 * spawnJobSchema.parse({ parentSessionId: 'root', childSessionId: 'child-1', model: 'gpt-4o' });
 */
export const spawnJobSchema: z.ZodType<SpawnJob> = spawnJob;

/**
 * Schema of a {@link SpawnBrief} (what `spawnChild` takes; extra fields are refused).
 *
 * @example
 * spawnBriefSchema.parse({ title: 'Research', prompt: 'Find three sources on X' });
 */
export const spawnBriefSchema: z.ZodType<SpawnBrief> = spawnBrief;

/**
 * The metadata keys Sprout writes on a child session: `last_run_status` (a
 * {@link RunStatusMetadata}), `last_run_error` (removed when there is none) and `last_run_id`.
 *
 * @example
 * const status = child.metadata[METADATA_KEYS.status]; // 'completed'
 */
export const METADATA_KEYS: { readonly status: 'last_run_status'; readonly error: 'last_run_error'; readonly runId: 'last_run_id' } = {
  status: 'last_run_status',
  error: 'last_run_error',
  runId: 'last_run_id',
};
