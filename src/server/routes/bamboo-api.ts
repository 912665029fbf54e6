import { Hono } from 'hono';
import type { Session } from '../../../machines/session.schema.js';
import { toBambooSummary } from '../bamboo-session.js';
import { HttpProblem } from '../problem.js';
import { sessionIdParam, type ServerContext } from '../server-context.js';
import { bambooFrame } from '../sse-frames.js';
import { streamSse } from '../sse-node.js';
import { resumePoint } from './v1-events.js';

/**
 * The Bamboo-compatible API under `/api/v1`, in the shapes of Bamboo's server, so a Bamboo UI
 * (Lotus's `AgentClient`) can use Sprout unchanged:
 *
 * - `GET /events/{id}`: SSE frames exactly `data: <AgentEvent JSON>\n\n` (bare events, only
 *   Bamboo's types, the configured dialect's names), `: heartbeat` while idle; live from the
 *   moment of connection (`?after=<seq>` replays first); 404 `{ error, session_id }`.
 * - `POST /stop/{id}`: 200 `{ success: true, message }`, 404 `{ success: false, message }`.
 * - `GET /sessions`, `GET /sessions/{id}`, `DELETE /sessions/{id}`, `GET /history/{id}`.
 *
 * @example
 * app.route('/api/v1', bambooRoutes(context));
 */
export function bambooRoutes(ctx: ServerContext): Hono {
  const { scheduler, store, dialect } = ctx.options;
  const app = new Hono();
  const load = (id: string): Promise<Session | undefined> => store.load(id);

  app.get('/events/:id', async (c) => {
    const id = sessionIdParam(c);
    if (!(await load(id))) return c.json({ error: 'Session not found', session_id: id }, 404);
    const afterSeq = c.req.query('after') === undefined ? undefined : resumePoint(c);
    return streamSse(
      c,
      {
        source: scheduler.events(id, afterSeq === undefined ? {} : { afterSeq }),
        frame: (envelope) => bambooFrame(envelope, dialect),
        comment: 'heartbeat',
        pingMs: ctx.options.pingIntervalMs,
        streams: ctx.streams,
      },
      { direct: ctx.options.cors === undefined },
    );
  });

  app.post('/stop/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await load(id);
    if (!session) return c.json({ success: false, message: `Session ${id} not found` }, 404);
    const own = await scheduler.cancel(id, 'user');
    const tree = session.kind === 'root' ? await scheduler.cancelTree(id) : 0;
    if (!own && tree === 0) return c.json({ success: false, message: `No running agent for session ${id}` }, 404);
    return c.json({ success: true, message: `Stop requested for session ${id}${tree > 0 ? ` and ${tree} sub-agent run(s)` : ''}` });
  });

  app.get('/sessions', async (c) => c.json({ sessions: (await ctx.catalog.list()).map(toBambooSummary) }));

  app.get('/sessions/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await load(id);
    if (!session) return c.json({ error: 'Session not found', session_id: id }, 404);
    return c.json({ session });
  });

  app.delete('/sessions/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await load(id);
    if (!session) return c.json({ success: false, message: `Session ${id} not found` }, 404);
    const descendants = await ctx.catalog.descendants(id);
    // Cancels the session's run and every run below it (reason `deleted`), then deletes it;
    // then the descendants, deepest first, each once its run has ended.
    await scheduler.deleteSession(id);
    for (const descendant of descendants) await scheduler.deleteSession(descendant.id);
    ctx.catalog.removeRoot(id);
    return c.json({ success: true, message: `Session ${id} deleted`, session_id: id });
  });

  app.get('/history/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await load(id);
    if (!session) return c.json({ error: 'Session not found', session_id: id }, 404);
    return c.json({ session_id: id, messages: session.messages });
  });

  app.all('*', () => {
    throw new HttpProblem(404, 'NOT_FOUND', 'no such Bamboo API route');
  });
  return app;
}
