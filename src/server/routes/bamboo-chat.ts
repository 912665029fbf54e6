import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Session } from '../../../machines/session.schema.js';
import { toRfc3339 } from '../../clock.js';
import { SessionBusyError, SproutError } from '../../errors.js';
import { toBambooHistory } from '../bamboo-history.js';
import { bambooLiveStates, ownRunStatus } from '../bamboo-live-state.js';
import { BAMBOO_METADATA_KEYS, isLiveStatus } from '../bamboo-session.js';
import { pendingUserTurn } from '../bamboo-turn.js';
import { HttpProblem } from '../problem.js';
import { isQueueFull } from '../queue-room.js';
import { readJson, sessionIdParam, sessionIdSchema, type ServerContext } from '../server-context.js';
import { sessionNotFound } from './bamboo-sessions.js';

/** A model name, where Bamboo UIs may send `""` or `null` for "the default". */
const optionalModel = z
  .string()
  .max(200)
  .nullish()
  .transform((model) => (model === null || model === '' ? undefined : model));
/** Bamboo's `ChatRequest`; fields Sprout has no use for (enhance_prompt, selected_skill_ids, …) are accepted and ignored. */
const chatSchema = z.looseObject({
  message: z.string().min(1).max(1_000_000),
  session_id: sessionIdSchema.nullish(),
  model: optionalModel,
  system_prompt: z.string().max(100_000).nullish(),
});
const executeSchema = z.looseObject({ model: optionalModel });

/** The first line of a message, shortened, as a new session's title. */
const titleOf = (message: string): string => {
  const line = message.trim().split('\n')[0] ?? '';
  return line.length > 60 ? `${line.slice(0, 57)}...` : line || 'New Session';
};

/**
 * Bamboo's conversation loop under `/api/v1`:
 *
 * - `POST /chat {message, session_id?, model?, system_prompt?}`: creates a root when `session_id`
 *   is absent, then `scheduler.run` appends the message and runs the root's agent; 201
 *   `{ session_id, stream_url, status: 'streaming', run_id }`; 409 while the session runs.
 * - `POST /execute/{id}` (and `/sessions/{id}/execute`): 202 `started` for the run `/chat` just
 *   handed over, or for a pending user turn (after a retry truncate), which runs again; 200
 *   `already_running` while a run is live; 200 `completed` when there is nothing to run.
 * - `POST /stop/{id}`: cancels the session's own run and, for a root, its tree; 200
 *   `{ success: true, message }`, 404 `{ success: false, message }` when nothing ran.
 * - `GET /history/{id}` (`?since_message_id`), `GET /respond/{id}/pending`, `GET /runs/active`,
 *   `GET /health`, `GET /prompt-presets`.
 *
 * @example
 * app.route('/api/v1', bambooChatRoutes(context));
 */
export function bambooChatRoutes(ctx: ServerContext): Hono {
  const { scheduler, store } = ctx.options;
  const app = new Hono();
  // The run `/chat` started and the client's `/execute` has not claimed yet, per session.
  const handoffs = new Map<string, string>();
  const runner = (): NonNullable<typeof scheduler.run> => {
    if (scheduler.run === undefined) throw new HttpProblem(501, 'NOT_SUPPORTED', 'this scheduler cannot run a session (distributed mode)');
    if (isQueueFull(scheduler))
      throw new HttpProblem(429, 'QUEUE_FULL', 'the spawn queue is full; retry later', { headers: { 'retry-after': '1' } });
    return scheduler.run.bind(scheduler);
  };

  /** Deletes a root this request made (nothing ran in it); a failure leaves an empty root behind. */
  const forgetRoot = async (id: string): Promise<void> => {
    try {
      await store.delete(id);
      ctx.catalog.removeRoot(id);
    } catch {
      // The store is away: the empty root stays, as any root made without a message would.
    }
  };

  app.get('/health', (c) => c.json({ status: 'ok', ok: true }));
  app.get('/prompt-presets', (c) => c.json({ prompts: [] }));

  app.post('/chat', async (c) => {
    const body = await readJson(c, chatSchema);
    // Refused (501, 429) before a new root is made.
    const run = runner();
    let session: Session | undefined;
    let created = false;
    if (body.session_id !== undefined && body.session_id !== null) {
      session = await store.load(body.session_id);
      if (!session) return sessionNotFound(c, body.session_id);
    } else {
      const id = ctx.createId();
      const now = toRfc3339(ctx.now());
      const prompt = body.system_prompt ?? '';
      session = {
        id,
        title: titleOf(body.message),
        kind: 'root',
        root_session_id: id,
        spawn_depth: 0,
        model: body.model ?? ctx.options.defaultModel,
        messages: prompt === '' ? [] : [{ id: ctx.createId(), role: 'system', content: prompt, created_at: now }],
        metadata: {},
        created_at: now,
        updated_at: now,
      };
      await store.save(session);
      ctx.catalog.addRoot(id);
      created = true;
    }
    const id = session.id;
    try {
      const { runId } = await run(id, { message: body.message, model: body.model });
      handoffs.set(id, runId);
      return c.json({ session_id: id, stream_url: `/api/v1/events/${id}`, status: 'streaming', run_id: runId }, 201);
    } catch (error) {
      if (error instanceof SessionBusyError) return c.json({ error: error.message, session_id: id }, 409);
      // A root made for this chat whose run was refused (the distributed queue is full) is not kept.
      if (created && error instanceof SproutError && error.code === 'QUEUE_FULL') await forgetRoot(id);
      throw error;
    }
  });

  const execute = async (c: Context): Promise<Response> => {
    const id = sessionIdParam(c);
    const body = await readJson(c, executeSchema, { optional: true });
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    const answer = (status: 'started' | 'already_running' | 'completed', runId?: string) =>
      c.json(
        { session_id: id, status, events_url: `/api/v1/events/${id}`, ...(runId === undefined ? {} : { run_id: runId }) },
        status === 'started' ? 202 : 200,
      );
    const lastRun = session.metadata.last_run_id;
    const handoff = handoffs.get(id);
    handoffs.delete(id);
    const turn = pendingUserTurn(session);
    // The run `/chat` started is this execute's run, unless a truncate left a turn to run since.
    if (handoff !== undefined && handoff === lastRun && turn === undefined) return answer('started', handoff);
    if (isLiveStatus(await ownRunStatus(scheduler, session))) return answer('already_running', lastRun);
    if (turn === undefined) return answer('completed');
    const run = runner();
    // `run` appends the message itself: take the waiting one out and hand its text over.
    session.messages.pop();
    delete session.metadata[BAMBOO_METADATA_KEYS.pendingTurn];
    await store.save(session);
    try {
      const { runId } = await run(id, { message: turn.content, model: body.model });
      return answer('started', runId);
    } catch (error) {
      const latest = await store.load(id);
      if (latest !== undefined && !latest.messages.some((message) => message.id === turn.id) && latest.messages.at(-1)?.role !== 'user') {
        latest.messages.push(turn);
        latest.metadata[BAMBOO_METADATA_KEYS.pendingTurn] = turn.id;
        await store.save(latest);
      }
      if (error instanceof SessionBusyError) return answer('already_running', error.runId);
      throw error;
    }
  };
  app.post('/execute/:id', execute);
  app.post('/sessions/:id/execute', execute);

  app.post('/stop/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await store.load(id);
    if (!session) return c.json({ success: false, message: `Session ${id} not found` }, 404);
    handoffs.delete(id);
    const own = await scheduler.cancel(id, 'user');
    const tree = session.kind === 'root' ? await scheduler.cancelTree(id) : 0;
    if (!own && tree === 0) return c.json({ success: false, message: 'No active agent execution found' }, 404);
    return c.json({ success: true, message: 'Agent execution stopped', cancelled_runs: (own ? 1 : 0) + tree });
  });

  app.get('/history/:id', async (c) => {
    const id = sessionIdParam(c);
    const session = await store.load(id);
    if (!session) return sessionNotFound(c, id);
    return c.json(toBambooHistory(session, c.req.query('since_message_id') || undefined));
  });

  app.get('/respond/:id/pending', async (c) => {
    const id = sessionIdParam(c);
    if (!(await store.load(id))) return sessionNotFound(c, id);
    return c.json({ has_pending_question: false });
  });

  app.get('/runs/active', async (c) => {
    const sessions = await ctx.catalog.list();
    const states = await bambooLiveStates(scheduler, sessions);
    const running = sessions.filter((session) => isLiveStatus(states.get(session.id)?.runStatus));
    const active = await Promise.all(
      running.map(async (session) => ({
        session_id: session.id,
        run_id: session.metadata.last_run_id ?? '',
        started_at: (await scheduler.getChild(session.id))?.startedAt ?? session.updated_at,
        round_count: 0,
        last_critical_events: [],
        running_child_session_ids: running.filter((child) => child.parent_session_id === session.id).map((child) => child.id),
      })),
    );
    return c.json({ sessions: active });
  });

  return app;
}
