import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Session } from '../../../machines/session.schema.js';
import { toRfc3339 } from '../../clock.js';
import { ownRunStatus } from '../bamboo-live-state.js';
import { BAMBOO_METADATA_KEYS, isLiveStatus, toBambooSummary } from '../bamboo-session.js';
import { HttpProblem } from '../problem.js';
import { readJson, sessionIdParam, type ServerContext } from '../server-context.js';
import { sessionNotFound } from './bamboo-sessions.js';

const patchMessageSchema = z.looseObject({ content: z.string().max(1_000_000) });
const restoreSchema = z.looseObject({ target_message_id: z.string().min(1).max(256), restore_files: z.boolean().default(false) });
const forkSchema = z.looseObject({ up_to_message_id: z.string().min(1).max(256) });

/**
 * Calls of Bamboo's UIs that Sprout answers with a typed 501 (`NOT_IMPLEMENTED`) rather than a
 * 404, so a UI shows "not supported" instead of "not found": method and path pattern under
 * `/api/v1`.
 */
const NOT_BUILT: readonly [method: string, path: string, what: string][] = [
  ['POST', '/sessions/cleanup', 'session cleanup'],
  ['POST', '/sessions/:id/regenerate-title', 'title generation'],
  ['POST', '/sessions/:id/project-dream/run', 'project dreams'],
  ['POST', '/respond/:id', 'clarifying questions (none is ever pending)'],
  ['POST', '/child-approval/:id', 'child tool approvals'],
  ['POST', '/dev/reset', 'the development reset'],
  ['GET', '/stream', 'the account feed over SSE (use the WebSocket /v2/stream, channel feed)'],
  ['ALL', '/schedules', 'schedules'],
  ['ALL', '/schedules/*', 'schedules'],
  ['ALL', '/metrics/*', 'metrics'],
  ['ALL', '/mcp/*', 'MCP servers'],
  ['ALL', '/plugins', 'plugins'],
  ['ALL', '/plugins/*', 'plugins'],
  ['POST', '/prompt-presets', 'prompt presets'],
  ['PATCH', '/prompt-presets/:id', 'prompt presets'],
  ['DELETE', '/prompt-presets/:id', 'prompt presets'],
];

/**
 * The edits of a conversation that Bamboo's UIs make besides retry and delete (mounted at
 * `/api/v1`), in Bamboo's shapes; each refuses a session whose run is live (409):
 *
 * - `POST /sessions/{id}/clear`: drops every message but the system prompt.
 * - `PATCH /sessions/{id}/messages/{mid} {content}`: edits one message's text.
 * - `POST /sessions/{id}/restore {target_message_id}`: drops everything after that message; a user
 *   message left last is a pending turn, which the next `execute` runs (edit and resend). Files
 *   are never restored (`restored_files: 0`).
 * - `POST /sessions/{id}/fork {up_to_message_id}`: a new root with the messages up to that one;
 *   201 `{ session }`.
 * - `GET /sessions/{id}/system-prompt`, `GET /task/{id}` (no task lists: an empty snapshot).
 * - A typed 501 for the Bamboo calls Sprout does not build (schedules, metrics, MCP, plugins, …).
 *
 * @example
 * app.route('/', bambooEditRoutes(context));
 */
export function bambooEditRoutes(ctx: ServerContext): Hono {
  const { scheduler, store } = ctx.options;
  const app = new Hono();
  /** The session, idle; 404 (Bamboo's shape) when unknown, 409 while its run is live. */
  const idleSession = async (c: Context, id: string): Promise<Session | Response> => {
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    if (isLiveStatus(await ownRunStatus(scheduler, session)))
      throw new HttpProblem(409, 'SESSION_BUSY', `session ${id} is running; stop it first`);
    return session;
  };
  const save = async (session: Session): Promise<void> => {
    session.updated_at = toRfc3339(ctx.now());
    await store.save(session);
  };

  app.post('/sessions/:id/clear', async (c) => {
    const id = sessionIdParam(c);
    const session = await idleSession(c, id);
    if (session instanceof Response) return session;
    const removed = session.messages.filter((message) => message.role !== 'system').length;
    session.messages = session.messages.filter((message) => message.role === 'system');
    delete session.metadata[BAMBOO_METADATA_KEYS.pendingTurn];
    await save(session);
    return c.json({ success: true, session_id: id, messages_removed: removed, message_count: session.messages.length });
  });

  app.patch('/sessions/:id/messages/:mid', async (c) => {
    const id = sessionIdParam(c);
    const messageId = c.req.param('mid');
    const { content } = await readJson(c, patchMessageSchema);
    const session = await idleSession(c, id);
    if (session instanceof Response) return session;
    const message = session.messages.find((candidate) => candidate.id === messageId);
    if (message === undefined) return c.json({ error: 'Message not found', session_id: id, message_id: messageId }, 404);
    message.content = content;
    await save(session);
    return c.json({ success: true, session_id: id, message_id: messageId });
  });

  app.post('/sessions/:id/restore', async (c) => {
    const id = sessionIdParam(c);
    const body = await readJson(c, restoreSchema);
    const session = await idleSession(c, id);
    if (session instanceof Response) return session;
    const index = session.messages.findIndex((message) => message.id === body.target_message_id);
    if (index < 0) return c.json({ error: 'Message not found', session_id: id, message_id: body.target_message_id }, 404);
    const removed = session.messages.length - index - 1;
    session.messages.splice(index + 1);
    const last = session.messages[index];
    if (last?.role === 'user') session.metadata[BAMBOO_METADATA_KEYS.pendingTurn] = last.id;
    else delete session.metadata[BAMBOO_METADATA_KEYS.pendingTurn];
    await save(session);
    return c.json({
      success: true,
      session_id: id,
      target_message_id: body.target_message_id,
      restore_files: false,
      messages_removed: removed,
      message_count: session.messages.length,
      restored_files: 0,
      deleted_files: 0,
    });
  });

  app.post('/sessions/:id/fork', async (c) => {
    const id = sessionIdParam(c);
    const { up_to_message_id: upTo } = await readJson(c, forkSchema);
    const source = await store.load(id);
    if (!source) return sessionNotFound(c, id);
    const index = source.messages.findIndex((message) => message.id === upTo);
    if (index < 0) return c.json({ error: 'Message not found', session_id: id, message_id: upTo }, 404);
    const forkId = ctx.createId();
    const now = toRfc3339(ctx.now());
    const messages = source.messages.slice(0, index + 1).map((message) => ({ ...message, id: ctx.createId() }));
    const fork: Session = {
      id: forkId,
      title: `${source.title} (fork)`,
      kind: 'root',
      root_session_id: forkId,
      spawn_depth: 0,
      model: source.model,
      messages,
      metadata: messages.at(-1)?.role === 'user' ? { [BAMBOO_METADATA_KEYS.pendingTurn]: messages.at(-1)?.id ?? '' } : {},
      created_at: now,
      updated_at: now,
    };
    await store.save(fork);
    ctx.catalog.addRoot(forkId);
    return c.json({ session: toBambooSummary(fork) }, 201);
  });

  app.get('/sessions/:id/system-prompt', async (c) => {
    const id = sessionIdParam(c);
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    const prompt = session.messages.find((message) => message.role === 'system')?.content ?? '';
    return c.json({ session_id: id, base_system_prompt: prompt });
  });

  app.get('/task/:id', async (c) => {
    const id = sessionIdParam(c);
    if (!(await store.load(id))) return sessionNotFound(c, id);
    return c.json({ session_id: id, title: null, items: [], progress: { completed: 0, total: 0, percentage: 0 }, version: 0 });
  });

  for (const [method, path, what] of NOT_BUILT) {
    app.on(method === 'ALL' ? ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] : [method], path, () => {
      throw new HttpProblem(501, 'NOT_IMPLEMENTED', `Sprout does not implement ${what}`);
    });
  }
  return app;
}
