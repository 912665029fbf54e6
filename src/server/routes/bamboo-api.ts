import { Hono } from 'hono';
import { bambooEventStream } from '../bamboo-event-stream.js';
import { HttpProblem } from '../problem.js';
import { sessionIdParam, type ServerContext } from '../server-context.js';
import { streamSse } from '../sse-node.js';
import { bambooChatRoutes } from './bamboo-chat.js';
import { bambooEditRoutes } from './bamboo-edits.js';
import { bambooSessionRoutes, sessionNotFound } from './bamboo-sessions.js';
import { resumePoint } from './v1-events.js';

/**
 * Longest gap between two frames of a Bamboo event stream (`: heartbeat` comments while idle).
 *
 * @example
 * const pingMs = Math.min(options.pingIntervalMs, BAMBOO_HEARTBEAT_MS);
 */
export const BAMBOO_HEARTBEAT_MS = 5000;

/**
 * The Bamboo-compatible API under `/api/v1`, in the shapes of Bamboo's server, so both Bamboo
 * UIs (legacy Lotus and lotus-next) can use Sprout unchanged:
 *
 * - `GET /events/{id}`: Bamboo's per-session SSE stream (see {@link bambooEventStream}): frames
 *   `id: <seq>\ndata: <AgentEvent JSON>\n\n` in the configured dialect, critical events replayed
 *   on subscribe (everything after `Last-Event-ID` / `?after=` when given), `data: [DONE]` and
 *   the end after the session's terminal event, a one-shot terminal for a finished session,
 *   `: heartbeat` every 5 s at most (`pingIntervalMs` when shorter); 404 `{ error, session_id }`.
 * - the conversation loop ({@link bambooChatRoutes}), the session routes ({@link bambooSessionRoutes})
 *   and the edits (clear, edit, restore, fork) with a typed 501 for what Sprout does not build
 *   ({@link bambooEditRoutes}).
 *
 * @example
 * app.route('/api/v1', bambooRoutes(context));
 */
export function bambooRoutes(ctx: ServerContext): Hono {
  const { scheduler, store, dialect } = ctx.options;
  const app = new Hono();
  const pingMs = Math.min(ctx.options.pingIntervalMs, BAMBOO_HEARTBEAT_MS);

  app.get('/events/:id', async (c) => {
    const id = sessionIdParam(c);
    if (!(await store.load(id))) return sessionNotFound(c, id);
    const afterSeq = resumePoint(c);
    return streamSse(
      c,
      {
        source: bambooEventStream(
          { scheduler, store, catalog: ctx.catalog, dialect, checkMs: pingMs },
          id,
          afterSeq === undefined ? {} : { afterSeq },
        ),
        frame: (bytes) => bytes,
        comment: 'heartbeat',
        pingMs,
        streams: ctx.streams,
      },
      { direct: ctx.options.cors === undefined },
    );
  });

  // Before the session routes: `/sessions/cleanup` is no session id.
  app.route('/', bambooEditRoutes(ctx));
  app.route('/sessions', bambooSessionRoutes(ctx));
  app.route('/', bambooChatRoutes(ctx));

  app.all('*', () => {
    throw new HttpProblem(404, 'NOT_FOUND', 'no such Bamboo API route');
  });
  return app;
}
