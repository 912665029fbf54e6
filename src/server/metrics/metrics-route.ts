import { Hono } from 'hono';
import type { ServerMetrics } from './server-metrics.js';

/**
 * `GET /metrics`: the server's Prometheus metrics in the text exposition format. Mounted after
 * the server's guards, so it needs the bearer token when the server has one.
 *
 * @example
 * app.route('/', metricsRoutes(createServerMetrics({ scheduler, openStreams: () => ({ sse: 0, ws: 0 }) })));
 */
export function metricsRoutes(metrics: ServerMetrics): Hono {
  const app = new Hono();
  app.get('/metrics', async (c) => {
    c.header('content-type', metrics.registry.contentType);
    c.header('cache-control', 'no-store');
    return c.body(await metrics.text());
  });
  return app;
}
