import { Hono } from 'hono';
import type { ServerContext } from './server-context.js';

/** One dependency as a health check saw it (the distributed front door's `checkHealth()`). */
interface DependencyCheck {
  status: 'up' | 'down';
  code?: string;
}

/** A scheduler that can say whether the services it depends on answer (the distributed front door). */
interface HealthChecked {
  checkHealth(): Promise<Record<string, DependencyCheck>>;
}

const isHealthChecked = (scheduler: unknown): scheduler is HealthChecked =>
  typeof (scheduler as Partial<HealthChecked> | undefined)?.checkHealth === 'function';

/**
 * `GET /v1/health`: `{ ok, status, dialect, streams }`, plus `checks` (each dependency `up` or
 * `down` with a code) when the scheduler can check its services (the distributed front door:
 * `redis`, `postgres`). 200 when everything answers; 503 with `Retry-After` and `status:
 * 'unavailable'` when a dependency is down. Never names a host or carries a driver's message.
 *
 * @example
 * app.route('/', healthRoutes(ctx));
 */
export function healthRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  app.get('/v1/health', async (c) => {
    const { scheduler, dialect } = ctx.options;
    const checks = isHealthChecked(scheduler) ? await scheduler.checkHealth() : undefined;
    const ok = checks === undefined || Object.values(checks).every((check) => check.status === 'up');
    if (!ok) c.header('retry-after', '5');
    return c.json(
      { ok, status: ok ? 'ok' : 'unavailable', dialect, streams: ctx.streams.size, ...(checks === undefined ? {} : { checks }) },
      ok ? 200 : 503,
    );
  });
  return app;
}
