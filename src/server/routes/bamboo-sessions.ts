import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Session } from '../../../machines/session.schema.js';
import { toRfc3339 } from '../../clock.js';
import { deleteSessionTree } from '../delete-session-tree.js';
import { bambooLiveStates, ownRunStatus } from '../bamboo-live-state.js';
import { BAMBOO_METADATA_KEYS, isLiveStatus, toBambooSummary, type BambooSessionSummary } from '../bamboo-session.js';
import { truncateAfterLastUser } from '../bamboo-turn.js';
import { bambooListQuerySchema, bambooSessionList } from './bamboo-session-list.js';
import { HttpProblem } from '../problem.js';
import { readJson, sessionIdParam, type ServerContext } from '../server-context.js';

/** Bamboo's create body; fields Sprout has no use for (provider, gold_config, …) are accepted and ignored. */
const createSchema = z.looseObject({
  title: z.string().max(500).optional(),
  system_prompt: z.string().max(100_000).optional(),
  model: z.string().max(200).nullish(),
});
const patchSchema = z.looseObject({
  title: z.string().min(1).max(500).optional(),
  pinned: z.boolean().optional(),
  model: z.string().max(200).nullish(),
});
const truncateSchema = z.looseObject({ mode: z.enum(['after_last_user', 'error_retry']).default('after_last_user') });

/**
 * A Bamboo-shaped 404 (`{ error, session_id }`), which both UIs show as "Session not found".
 *
 * @example
 * if (!session) return sessionNotFound(c, id);
 */
export function sessionNotFound(c: Context, id: string): Response {
  return c.json({ error: 'Session not found', session_id: id }, 404);
}

/**
 * Bamboo's session routes under `/api/v1/sessions`: the list `{ sessions, total, limit, offset,
 * next_offset? }` newest first (`?limit` default 200, at most 1000, `?offset`, `?kind`,
 * `?root_session_id`), create (201 `{ session }`), read `{ session }`, `PATCH` title / pinned /
 * model, delete (the session and its tree), the retry truncate and deleting one message — all in
 * Bamboo's `SessionSummary` shape. Edits to a session whose run is live are refused with 409.
 *
 * @example
 * app.route('/api/v1/sessions', bambooSessionRoutes(context));
 */
export function bambooSessionRoutes(ctx: ServerContext): Hono {
  const { scheduler, store } = ctx.options;
  const app = new Hono();
  const summary = async (session: Session): Promise<BambooSessionSummary> => {
    const states = await bambooLiveStates(scheduler, [session, ...(await store.listChildren(session.id))]);
    return toBambooSummary(session, states.get(session.id));
  };
  const notRunning = async (session: Session): Promise<void> => {
    if (isLiveStatus(await ownRunStatus(scheduler, session)))
      throw new HttpProblem(409, 'SESSION_BUSY', `session ${session.id} is running; stop it first`);
  };

  // The list reads session summaries only (no messages), a page at a time (bamboo-session-list.ts).
  app.get('/', async (c) => {
    const parsed = bambooListQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid query: ${parsed.error.issues[0]?.message ?? ''}`);
    return c.json(await bambooSessionList({ scheduler, catalog: ctx.catalog }, parsed.data));
  });

  app.post('/', async (c) => {
    const body = await readJson(c, createSchema, { optional: true });
    const id = ctx.createId();
    const now = toRfc3339(ctx.now());
    const session: Session = {
      id,
      title: body.title === undefined || body.title.trim() === '' ? 'New Session' : body.title,
      kind: 'root',
      root_session_id: id,
      spawn_depth: 0,
      model: body.model === undefined || body.model === null || body.model === '' ? ctx.options.defaultModel : body.model,
      messages:
        body.system_prompt === undefined || body.system_prompt === ''
          ? []
          : [{ id: ctx.createId(), role: 'system', content: body.system_prompt, created_at: now }],
      metadata: {},
      created_at: now,
      updated_at: now,
    };
    await store.save(session);
    ctx.catalog.addRoot(id);
    return c.json({ session: toBambooSummary(session) }, 201);
  });

  app.get('/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    return c.json({ session: await summary(session) });
  });

  app.patch('/:id', async (c) => {
    const id = sessionIdParam(c);
    const body = await readJson(c, patchSchema, { optional: true });
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    if (body.title !== undefined && body.title !== session.title) {
      session.title = body.title;
      session.metadata[BAMBOO_METADATA_KEYS.titleVersion] = String(Number(session.metadata[BAMBOO_METADATA_KEYS.titleVersion] ?? '0') + 1);
    }
    if (body.pinned !== undefined) session.metadata[BAMBOO_METADATA_KEYS.pinned] = String(body.pinned);
    if (typeof body.model === 'string' && body.model !== '') session.model = body.model;
    session.updated_at = toRfc3339(ctx.now());
    await store.save(session);
    return c.json({ session: await summary(session) });
  });

  app.delete('/:id', async (c) => {
    const id = sessionIdParam(c);
    if (!(await store.load(id))) return sessionNotFound(c, id);
    // Cancels the session's run and every run below it (reason `deleted`), then deletes it;
    // then the descendants, deepest first, each once its run has ended.
    await deleteSessionTree({ scheduler, catalog: ctx.catalog }, id);
    return c.json({ success: true, message: `Session ${id} deleted`, session_id: id });
  });

  // Retry / regenerate: drop everything after the last user message; the next execute runs it again.
  app.post('/:id/messages/truncate', async (c) => {
    const id = sessionIdParam(c);
    await readJson(c, truncateSchema, { optional: true });
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    await notRunning(session);
    const removed = truncateAfterLastUser(session);
    if (removed === undefined) return c.json({ error: 'Session has no user message to retry', session_id: id }, 400);
    session.updated_at = toRfc3339(ctx.now());
    await store.save(session);
    return c.json({ success: true, session_id: id, messages_removed: removed, message_count: session.messages.length });
  });

  app.delete('/:id/messages/:mid', async (c) => {
    const id = sessionIdParam(c);
    const messageId = c.req.param('mid');
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    await notRunning(session);
    const index = session.messages.findIndex((message) => message.id === messageId);
    if (index < 0) return c.json({ error: 'Message not found', session_id: id, message_id: messageId }, 404);
    session.messages.splice(index, 1);
    session.updated_at = toRfc3339(ctx.now());
    await store.save(session);
    return c.json({ success: true, session_id: id, message_id: messageId, message_count: session.messages.length });
  });

  return app;
}
