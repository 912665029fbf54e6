import { Hono } from 'hono';
import { z } from 'zod';
import { runStatusMetadataSchema, type Session } from '../../../machines/session.schema.js';
import { toRfc3339 } from '../../clock.js';
import { SproutValidationError } from '../../errors.js';
import { deleteSessionTree } from '../delete-session-tree.js';
import { HttpProblem } from '../problem.js';
import { isQueueFull } from '../queue-room.js';
import { readJson, sessionIdParam, sessionIdSchema, type ServerContext } from '../server-context.js';

const createRootSchema = z.strictObject({
  title: z.string().min(1).max(500),
  model: z.string().min(1).max(200).optional(),
  system_prompt: z.string().max(100_000).optional(),
});

const childBriefSchema = z.strictObject({
  title: z.string().min(1).max(500),
  prompt: z.string().min(1).max(100_000),
  model: z.string().min(1).max(200).optional(),
  responsibility: z.string().max(10_000).optional(),
  subagentType: z.string().max(200).optional(),
});

const cancelSchema = z.strictObject({ tree: z.boolean().optional() });
const messageSchema = z.strictObject({
  message: z.string().min(1).max(1_000_000),
  model: z.string().min(1).max(200).optional(),
});
/** `GET /v1/sessions` query: filters, order, cursor and page size (default 50, at most 500). */
const listQuerySchema = z.object({
  parent: sessionIdSchema.optional(),
  root: sessionIdSchema.optional(),
  kind: z.enum(['root', 'child']).optional(),
  status: runStatusMetadataSchema.optional(),
  order: z.enum(['created', 'recent']).optional(),
  cursor: z.string().min(1).max(4000).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
});
const waitQuerySchema = z.object({ policy: z.enum(['all', 'any', 'first-error']).default('all') });

/**
 * A session without its messages (plus `message_count`), the shape of a listing item.
 *
 * @example
 * const item = sessionListing(session); // { id, title, …, metadata, message_count }
 */
export function sessionListing(session: Session): Omit<Session, 'messages'> & { message_count: number } {
  const { messages, ...rest } = session;
  return { ...rest, message_count: messages.length };
}

/**
 * Sprout's session API under `/v1/sessions`: create roots, list sessions a page at a time
 * (`?parent=&root=&kind=&status=&order=&cursor=&limit=`, summaries without messages, answered
 * `{ sessions, next_cursor }`; 400 for a bad value or cursor), read a session, send a message
 * to any session (runs its agent; 409 while it runs), spawn children (202, 429 when the queue is
 * full), cancel one run or a tree, delete a session with its tree, status, and a long-poll wait
 * for children.
 *
 * @example
 * app.route('/v1/sessions', sessionRoutes(context));
 */
export function sessionRoutes(ctx: ServerContext): Hono {
  const { scheduler, store } = ctx.options;
  const app = new Hono();
  const mustLoad = async (id: string): Promise<Session> => {
    const session = await store.load(id);
    if (!session) throw new HttpProblem(404, 'SESSION_NOT_FOUND', `session ${id} not found`);
    return session;
  };

  app.post('/', async (c) => {
    const body = await readJson(c, createRootSchema);
    const id = ctx.createId();
    const now = toRfc3339(ctx.now());
    const session: Session = {
      id,
      title: body.title,
      kind: 'root',
      root_session_id: id,
      spawn_depth: 0,
      model: body.model ?? ctx.options.defaultModel,
      messages:
        body.system_prompt === undefined ? [] : [{ id: ctx.createId(), role: 'system', content: body.system_prompt, created_at: now }],
      metadata: {},
      created_at: now,
      updated_at: now,
    };
    await store.save(session);
    ctx.catalog.addRoot(id);
    c.header('location', `/v1/sessions/${id}`);
    return c.json({ session }, 201);
  });

  app.get('/', async (c) => {
    const parsed = listQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new HttpProblem(400, 'VALIDATION_FAILED', `invalid query: ${parsed.error.issues[0]?.message ?? ''}`);
    try {
      const page = await ctx.catalog.page(parsed.data);
      return c.json({ sessions: page.items, next_cursor: page.nextCursor ?? null });
    } catch (error) {
      if (error instanceof SproutValidationError) throw new HttpProblem(400, error.code, error.message);
      throw error;
    }
  });

  app.get('/:id', async (c) => c.json({ session: await mustLoad(sessionIdParam(c)) }));

  app.post('/:id/children', async (c) => {
    const id = sessionIdParam(c);
    const brief = await readJson(c, childBriefSchema);
    await mustLoad(id);
    if (isQueueFull(scheduler))
      throw new HttpProblem(429, 'QUEUE_FULL', 'the spawn queue is full; retry later', { headers: { 'retry-after': '1' } });
    const { childSessionId, runId } = await scheduler.spawnChild(id, brief);
    c.header('location', `/v1/sessions/${childSessionId}`);
    return c.json({ childSessionId, runId }, 202);
  });

  // A message to any session (root or child) runs its agent: 202 with the run id, 409 while the
  // session already runs, 429 when the queue is full.
  app.post('/:id/messages', async (c) => {
    const id = sessionIdParam(c);
    const body = await readJson(c, messageSchema);
    await mustLoad(id);
    if (scheduler.run === undefined) throw new HttpProblem(501, 'NOT_SUPPORTED', 'this scheduler cannot run a session (distributed mode)');
    if (isQueueFull(scheduler))
      throw new HttpProblem(429, 'QUEUE_FULL', 'the spawn queue is full; retry later', { headers: { 'retry-after': '1' } });
    const { runId } = await scheduler.run(id, body);
    c.header('location', `/v1/sessions/${id}/status`);
    return c.json({ sessionId: id, runId }, 202);
  });

  app.post('/:id/cancel', async (c) => {
    const id = sessionIdParam(c);
    const { tree } = await readJson(c, cancelSchema, { optional: true });
    await mustLoad(id);
    const own = (await scheduler.cancel(id, 'user')) ? 1 : 0;
    const descendants = tree === true ? await scheduler.cancelTree(id) : 0;
    return c.json({ cancelled: own + descendants });
  });

  app.delete('/:id', async (c) => {
    const id = sessionIdParam(c);
    await mustLoad(id);
    // The path of `DELETE /api/v1/sessions/{id}`: cancels its runs and every run below it (reason
    // `deleted`), deletes it and its descendants, and ends their streams with a final frame.
    return c.json({ deleted: await deleteSessionTree({ scheduler, catalog: ctx.catalog }, id) });
  });

  app.get('/:id/status', async (c) => {
    const id = sessionIdParam(c);
    const status = await scheduler.getChild(id);
    if (!status) throw new HttpProblem(404, 'SESSION_NOT_FOUND', `no run is known for session ${id}`);
    return c.json({ status });
  });

  app.get('/:id/wait', async (c) => {
    const id = sessionIdParam(c);
    const parsed = waitQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid query: ${parsed.error.issues[0]?.message ?? ''}`);
    await mustLoad(id);
    const children = await scheduler.waitForChildren(id, { policy: parsed.data.policy });
    return c.json({ children });
  });

  return app;
}
