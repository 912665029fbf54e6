import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { systemClock } from '../clock.js';
import { SproutValidationError } from '../errors.js';
import { HttpProblem, problemResponse } from './problem.js';
import { bambooRoutes } from './routes/bamboo-api.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { eventRoutes } from './routes/v1-events.js';
import { runRoutes } from './routes/v1-runs.js';
import { sessionRoutes } from './routes/v1-sessions.js';
import { bearerGuard, hostGuard, LOOPBACK_NAMES, type HostPolicy } from './security.js';
import type { ServerContext } from './server-context.js';
import { sproutServerOptionsSchema, type ResolvedServerOptions, type SproutServerOptions } from './server-options.js';
import { SessionCatalog } from './session-catalog.js';
import { SseStreams } from './sse-stream.js';
import { toProblem } from './to-problem.js';

/** A Sprout HTTP server: a web-standard `fetch` handler plus what `listen` and a drain need. */
export interface SproutServer {
  /**
   * Handles one request (Hono app; usable with any web-standard server). `env` carries the
   * runtime's bindings (on @hono/node-server: `{ incoming, outgoing }`, which SSE writes to directly).
   */
  readonly fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  /** The Hono app, to mount more routes. */
  readonly app: Hono;
  /** The options in effect (with defaults). */
  readonly options: ResolvedServerOptions;
  /** Accepted `Host` header names and port; {@link listenSproutServer} sets the port. */
  readonly hostPolicy: HostPolicy;
  /** Remembers a root created outside the API (for stores that cannot list every session). */
  trackRoot(sessionId: string): void;
  /** Ends every open SSE stream after its queued events and refuses new ones. */
  closeStreams(): void;
  /** Number of open SSE streams. */
  readonly openStreams: number;
}

/**
 * Builds the HTTP API around a started scheduler: Sprout's API under `/v1` (JSON, RFC 9457
 * problems, resumable SSE), the Bamboo-compatible API under `/api/v1`, and the live dashboard at
 * `/`. Security: the `Host` header must name this server (DNS rebinding), a `token` makes every
 * request need `Authorization: Bearer`, CORS only for the `cors` origin, bodies limited to
 * `maxBodyBytes` and validated with zod. Serve it with {@link listenSproutServer}.
 *
 * @example
 * const server = createSproutServer({ scheduler, store });
 * const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 7433 });
 * console.log(`listening on ${listening.url}`);
 */
export function createSproutServer(options: SproutServerOptions): SproutServer {
  const parsed = sproutServerOptionsSchema.safeParse(options);
  if (!parsed.success) throw new SproutValidationError('server options', parsed.error.issues);
  const opts = parsed.data;
  const ctx: ServerContext = {
    options: opts,
    catalog: new SessionCatalog(opts.store),
    streams: new SseStreams(),
    createId: opts.createId ?? randomUUID,
    now: opts.now ?? (() => systemClock.now()),
  };
  const hostPolicy: HostPolicy = {
    names: new Set([...LOOPBACK_NAMES, ...opts.allowedHosts.map((name) => name.toLowerCase())]),
    port: undefined,
  };

  const app = new Hono();
  app.onError((error) => problemResponse(toProblem(error)));
  app.notFound(() => problemResponse(new HttpProblem(404, 'NOT_FOUND', 'no such route')));
  app.use(hostGuard(hostPolicy));
  if (opts.cors !== undefined) {
    app.use(
      cors({
        origin: opts.cors,
        allowHeaders: ['authorization', 'content-type', 'last-event-id'],
        allowMethods: ['GET', 'POST', 'DELETE', 'OPTIONS'],
        maxAge: 600,
      }),
    );
  }
  if (opts.token !== undefined) app.use(bearerGuard(opts.token));
  app.use(
    bodyLimit({
      maxSize: opts.maxBodyBytes,
      onError: () => problemResponse(new HttpProblem(413, 'BODY_TOO_LARGE', `request body is larger than ${opts.maxBodyBytes} bytes`)),
    }),
  );
  app.get('/v1/health', (c) => c.json({ ok: true, dialect: opts.dialect, streams: ctx.streams.size }));
  app.route('/v1/sessions', eventRoutes(ctx));
  app.route('/v1/sessions', sessionRoutes(ctx));
  app.route('/v1', runRoutes(ctx));
  app.route('/api/v1', bambooRoutes(ctx));
  app.route('/', dashboardRoutes(ctx));

  return {
    fetch: (request, env) => app.fetch(request, env),
    app,
    options: opts,
    hostPolicy,
    trackRoot: (sessionId) => ctx.catalog.addRoot(sessionId),
    closeStreams: () => ctx.streams.closeAll(),
    get openStreams() {
      return ctx.streams.size;
    },
  };
}
