import { Hono } from 'hono';
import { runCauses } from '../run-causes.js';
import type { ServerContext } from '../server-context.js';

/**
 * `GET /v1/run-causes`: why each live run is where it is (`queued: per-parent limit 2/2 of p`,
 * `waiting on c3, c7`, `idle 41 s of 60 s`), read from the scheduler's public actor snapshot;
 * `{ available: false, causes: [] }` in distributed mode. What the dashboard shows on rows.
 *
 * @example
 * app.route('/v1', runCauseRoutes(context));
 */
export function runCauseRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get('/run-causes', async (c) => c.json(await runCauses(ctx.options.scheduler, ctx.now())));
  return app;
}
