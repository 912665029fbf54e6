import { Hono } from 'hono';
import type { WorkersInfo } from '../../distributed/workers-info.js';
import type { ServerContext } from '../server-context.js';

/** A scheduler that can list its workers (the distributed front door). */
interface WorkerListing {
  workers(): Promise<WorkersInfo>;
}

const hasWorkers = (scheduler: unknown): scheduler is WorkerListing =>
  typeof (scheduler as Partial<WorkerListing> | undefined)?.workers === 'function';

/**
 * `GET /v1/workers`: in distributed mode `{ available: true, workers: [{ name, address?, age_ms?,
 * runs: [{ run_id, epoch, lease_ms_left }] }], truncated }` (the front door's `workers()`);
 * `{ available: false }` for the embedded scheduler, which has no workers. What the dashboard's
 * workers view shows.
 *
 * @example
 * app.route('/v1', workerRoutes(ctx));
 */
export function workerRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get('/workers', async (c) => {
    const { scheduler } = ctx.options;
    if (!hasWorkers(scheduler)) return c.json({ available: false });
    return c.json({ available: true, ...(await scheduler.workers()) });
  });
  return app;
}
