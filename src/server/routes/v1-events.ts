import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { EventLog } from '../../api/ports.js';
import type { SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { HttpProblem } from '../problem.js';
import { sessionIdParam, type ServerContext } from '../server-context.js';
import { endWhenDeleted, isSessionDeleted, sessionDeletedFrame } from '../session-deleted.js';
import { sproutFrame } from '../sse-frames.js';
import { streamSse } from '../sse-node.js';

const seqSchema = z
  .string()
  .regex(/^\d{1,15}$/, 'must be a non-negative integer')
  .transform(Number);
const pageQuerySchema = z.object({ after: seqSchema.optional(), limit: seqSchema.pipe(z.number().int().min(1).max(1000)).optional() });

/** True when the client asked for an event stream. */
export function wantsEventStream(c: Context): boolean {
  return (c.req.header('accept') ?? '').toLowerCase().includes('text/event-stream');
}

/** The resume point: `Last-Event-ID` wins over `?after=`; 422 for anything but a non-negative integer. */
export function resumePoint(c: Context): number | undefined {
  const raw = c.req.header('last-event-id') ?? c.req.query('after');
  if (raw === undefined || raw.trim() === '') return undefined;
  const parsed = seqSchema.safeParse(raw.trim());
  if (!parsed.success)
    throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid resume point ${JSON.stringify(raw)}: must be a non-negative integer`);
  return parsed.data;
}

/**
 * `GET /v1/sessions/{id}/events`: with `Accept: text/event-stream`, a resumable SSE stream —
 * `retry:` first, then `id: <seq>` / `event: <type>` / `data: <event JSON>` per event, from the
 * `Last-Event-ID` header or `?after=` (default 0: every retained event), `stream_truncated`
 * first when retention dropped part of the range, `: ping` while idle; when the session is
 * deleted, a last `event: session_deleted` frame (no `id:`), then the end. Otherwise one JSON page
 * `{ events: [{ seq, event }], next_after }`.
 *
 * The stream is `scheduler.events(id, { afterSeq })`, which subscribes to live events first,
 * replays from the log, then drains what arrived meanwhile: no gap and no duplicate.
 *
 * @example
 * app.route('/v1/sessions', eventRoutes(context));
 */
export function eventRoutes(ctx: ServerContext): Hono {
  const { scheduler, store } = ctx.options;
  const app = new Hono();
  app.get('/:id/events', async (c) => {
    const id = sessionIdParam(c);
    if (!(await store.load(id))) throw new HttpProblem(404, 'SESSION_NOT_FOUND', `session ${id} not found`);
    if (wantsEventStream(c)) {
      const afterSeq = resumePoint(c) ?? 0;
      return streamSse(
        c,
        {
          source: endWhenDeleted(scheduler.events(id, { afterSeq }), id, { store, catalog: ctx.catalog }),
          frame: (item) => (isSessionDeleted(item) ? sessionDeletedFrame(id) : sproutFrame(item)),
          preamble: `retry: ${ctx.options.retryMs}\n\n`,
          comment: 'ping',
          pingMs: ctx.options.pingIntervalMs,
          streams: ctx.streams,
        },
        { direct: ctx.options.cors === undefined },
      );
    }
    const parsed = pageQuerySchema.safeParse(c.req.query());
    if (!parsed.success) throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid query: ${parsed.error.issues[0]?.message ?? ''}`);
    const after = parsed.data.after ?? 0;
    const limit = parsed.data.limit ?? 100;
    const log = (scheduler as { eventLog?: Pick<EventLog, 'read'> }).eventLog;
    let page: SessionEventEnvelope[];
    if (log) {
      // A scheduler that exposes its log (the distributed front door: events live in PostgreSQL,
      // written by the workers): read the page from it.
      const { envelopes, firstRetainedSeq, lastSeq } = await log.read(id, after);
      const firstAvailable = firstRetainedSeq ?? lastSeq + 1;
      const truncated: SessionEventEnvelope[] =
        after + 1 < firstAvailable && lastSeq > after
          ? [{ seq: firstAvailable - 1, sessionId: id, event: { type: 'stream_truncated', first_retained_seq: firstAvailable } }]
          : [];
      page = [...truncated, ...envelopes].slice(0, limit);
    } else {
      // The embedded scheduler's replay of events() is synchronous: collect one page, then unsubscribe.
      page = [];
      const subscription = scheduler.events(id, { afterSeq: after }).subscribe((envelope) => {
        if (page.length < limit) page.push(envelope);
      });
      subscription.unsubscribe();
    }
    return c.json({ events: page.map(({ seq, event }) => ({ seq, event })), next_after: page.at(-1)?.seq ?? after });
  });
  return app;
}
