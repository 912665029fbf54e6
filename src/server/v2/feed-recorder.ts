import type { Context, MiddlewareHandler } from 'hono';
import type { SessionStore } from '../../api/ports.js';
import type { FeedJournal } from './feed-journal.js';
import { messageAppended, sessionCreated } from './record-run-changes.js';

const CREATE_PATHS = new Set(['/v1/sessions', '/api/v1/sessions']);
const CHAT_PATH = '/api/v1/chat';
const DELETE_PATH = /^\/(?:api\/)?v1\/sessions\/([^/]+)\/?$/;

/** The created session's id in a create or chat answer (`{ session: { id } }` or `{ session_id }`). */
function createdId(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { session, session_id: sessionId } = body as { session?: { id?: unknown }; session_id?: unknown };
  if (typeof session?.id === 'string') return session.id;
  return typeof sessionId === 'string' ? sessionId : undefined;
}

/**
 * Journals on the account feed the session-level changes made through the HTTP API, from the
 * answers of the routes that made them: `session_created` for `POST /v1/sessions`, `POST
 * /api/v1/sessions` and a `POST /api/v1/chat` without `session_id` (the server created the
 * session), `message_appended` for the user turn a chat persisted, `session_deleted` for `DELETE
 * /v1/sessions/{id}` and `DELETE /api/v1/sessions/{id}`. Runs are journaled by
 * `recordRunChanges`.
 *
 * @example
 * app.use(feedRecorder(feed, store));
 */
export function feedRecorder(feed: FeedJournal, store: SessionStore): MiddlewareHandler {
  const record = async (c: Context): Promise<void> => {
    // Only these answers are read: touching `c.res` of a stream written straight to the socket
    // (SSE on @hono/node-server) would make Hono send a second response.
    const method = c.req.method;
    const path = c.req.path.replace(/\/$/, '');
    const deleted = method === 'DELETE' ? DELETE_PATH.exec(path)?.[1] : undefined;
    const created = method === 'POST' && (CREATE_PATHS.has(path) || path === CHAT_PATH);
    if ((deleted === undefined && !created) || c.res.status < 200 || c.res.status >= 300) return;
    if (deleted !== undefined) {
      feed.record(decodeURIComponent(deleted), { type: 'session_deleted', session_id: decodeURIComponent(deleted) });
      return;
    }
    if (!(c.res.headers.get('content-type') ?? '').includes('json')) return;
    const id = createdId(await c.res.clone().json());
    if (id === undefined) return;
    const session = await store.load(id);
    if (!session) return;
    if (path !== CHAT_PATH) {
      feed.record(id, sessionCreated(session));
      return;
    }
    const request = (await c.req.json().catch(() => ({}))) as { session_id?: unknown };
    if (typeof request.session_id !== 'string') feed.record(id, sessionCreated(session));
    const turn = session.messages.findLast((message) => message.role === 'user');
    const appended = turn === undefined ? undefined : messageAppended({ ...session, messages: [turn] });
    if (appended !== undefined) feed.record(id, appended);
  };
  return async (c, next) => {
    await next();
    try {
      await record(c);
    } catch {
      // The change was made and answered; a failed read only leaves it out of the feed (its
      // clients also poll `GET /api/v1/sessions`), never turns the answer into a failure.
    }
  };
}
