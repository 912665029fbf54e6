import type { Context } from 'hono';
import { Hono } from 'hono';
import { stream } from 'hono/streaming';
import { z } from 'zod';
import { isRunIndex, MAX_RUN_PAGE, type RunIndex, type RunQuery } from '../../api/run-index.js';
import { SproutValidationError } from '../../errors.js';
import { hasNoNul, NUL_MESSAGE } from '../../well-formed-text.js';
import { HttpProblem } from '../problem.js';
import { bulkRuns, MAX_BULK_RUNS } from '../run-bulk.js';
import { runPage } from '../run-page.js';
import { readJson, type ServerContext } from '../server-context.js';

/** The query parameters that turn `GET /v1/runs` into a query of the run index. */
export const RUN_QUERY_PARAMS = ['status', 'reason', 'root', 'parent', 'child', 'model', 'since', 'until', 'q', 'cursor', 'limit'] as const;

const statusSchema = z.enum(['queued', 'running', 'completed', 'error', 'cancelled', 'skipped']);
const text = z.string().min(1).max(1000).refine(hasNoNul, NUL_MESSAGE);
const instant = z.iso.datetime({ offset: true });

/** A run filter as JSON (the body of `POST /v1/runs/bulk`) or as query parameters. */
const filterSchema = z.strictObject({
  status: z.array(statusSchema).min(1).max(6).optional(),
  reason: text.optional(),
  root: text.optional(),
  parent: text.optional(),
  child: text.optional(),
  model: text.optional(),
  since: instant.optional(),
  until: instant.optional(),
  q: z.string().min(1).max(200).refine(hasNoNul, NUL_MESSAGE).optional(),
});

const querySchema = filterSchema.extend({
  cursor: z.string().min(1).max(64).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_RUN_PAGE).default(50),
});

const bulkSchema = z
  .strictObject({
    action: z.enum(['cancel', 'retry']),
    filter: filterSchema.optional(),
    runIds: z.array(z.string().min(1).max(256).refine(hasNoNul, NUL_MESSAGE)).min(1).max(MAX_BULK_RUNS).optional(),
  })
  .refine((body) => (body.filter === undefined) !== (body.runIds === undefined), 'give exactly one of filter or runIds');

const runIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,256}$/, 'must be 1-256 letters, digits, ".", "_", ":" or "-"');

/**
 * True when the request names any of {@link RUN_QUERY_PARAMS}: `GET /v1/runs` then answers from
 * the run index instead of the live tracker snapshot.
 *
 * @example
 * if (isRunQuery(c)) return c.json(await queryRuns(ctx, c));
 */
export function isRunQuery(c: Context): boolean {
  const query = c.req.query();
  return RUN_QUERY_PARAMS.some((name) => name in query);
}

/** The server's run index: the option, else the store when it is one; 501 without. */
function indexOf(ctx: ServerContext): RunIndex {
  const index = ctx.options.runIndex ?? (isRunIndex(ctx.options.store) ? ctx.options.store : undefined);
  if (index === undefined)
    throw new HttpProblem(
      501,
      'RUN_INDEX_UNAVAILABLE',
      'this server has no run index (use a SQLite or PostgreSQL store, or pass runIndex)',
    );
  return index;
}

/** A store's refusal of a query becomes a 400 problem. */
async function badQueryAs400<T>(fn: () => T | PromiseLike<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof SproutValidationError) throw new HttpProblem(400, 'INVALID_QUERY', error.message);
    throw error;
  }
}

/**
 * `GET /v1/runs?…` in index mode: `{ runs, next_cursor }`, newest first; 400 `INVALID_QUERY`
 * for a bad parameter. `status` takes a comma-separated list.
 *
 * @example
 * return c.json(await queryRuns(ctx, c));
 */
export async function queryRuns(ctx: ServerContext, c: Context): Promise<{ runs: unknown[]; next_cursor: string | null }> {
  const raw: Record<string, unknown> = { ...c.req.query() };
  if (typeof raw.status === 'string') raw.status = raw.status.split(',').filter((word) => word !== '');
  const parsed = querySchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(query)'}: ${issue.message}`).join('; ');
    throw new HttpProblem(400, 'INVALID_QUERY', `invalid run query: ${detail}`);
  }
  const index = indexOf(ctx);
  const page = await badQueryAs400(() => index.queryRuns(parsed.data as RunQuery));
  return { runs: page.runs, next_cursor: page.nextCursor ?? null };
}

/**
 * `GET /v1/runs/{runId}` (the run page: run, prompt, transcript, events, timeline, tokens,
 * links; 404 `RUN_NOT_FOUND`) and `POST /v1/runs/bulk` (`{ action: 'cancel' | 'retry', filter |
 * runIds }` → `{ matched, acted, skipped, failed, truncated, results }`, at most
 * {@link MAX_BULK_RUNS} runs per request; with `Accept: application/x-ndjson`, one
 * `{ type: 'progress', done, total, acted, skipped, failed }` line per chunk of runs, then
 * `{ type: 'result', … }`). Mounted under `/v1` after the live run routes.
 *
 * @example
 * app.route('/v1', runIndexRoutes(context));
 */
export function runIndexRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  const { scheduler, store } = ctx.options;
  app.post('/runs/bulk', async (c) => {
    const body = await readJson(c, bulkSchema);
    const index = indexOf(ctx);
    const request = {
      action: body.action,
      ...(body.filter === undefined ? {} : { filter: body.filter }),
      ...(body.runIds === undefined ? {} : { runIds: body.runIds }),
    };
    if (!(c.req.header('accept') ?? '').includes('application/x-ndjson')) {
      return c.json(await badQueryAs400(() => bulkRuns({ index, store, scheduler }, request)));
    }
    // Progress as it goes: one NDJSON line per chunk of runs, then the result line.
    c.header('content-type', 'application/x-ndjson');
    return stream(c, async (out) => {
      const line = (value: unknown): Promise<unknown> => out.write(`${JSON.stringify(value)}\n`);
      const writes: Promise<unknown>[] = [];
      try {
        const result = await bulkRuns({ index, store, scheduler }, request, (progress) =>
          writes.push(line({ type: 'progress', ...progress })),
        );
        await Promise.all(writes);
        await line({ type: 'result', ...result });
      } catch (error) {
        await Promise.all(writes);
        await line({ type: 'error', message: error instanceof Error ? error.message : String(error) });
      }
    });
  });
  app.get('/runs/:runId', async (c) => {
    const parsed = runIdSchema.safeParse(c.req.param('runId'));
    if (!parsed.success) throw new HttpProblem(400, 'INVALID_QUERY', `invalid run id: ${parsed.error.issues[0]?.message ?? ''}`);
    const page = await runPage({ index: indexOf(ctx), store, scheduler, now: ctx.now }, parsed.data);
    if (page === undefined) throw new HttpProblem(404, 'RUN_NOT_FOUND', `run ${parsed.data} not found`);
    return c.json(page);
  });
  return app;
}
