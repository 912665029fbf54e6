import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import { systemClock } from '../clock.js';
import { SproutValidationError } from '../errors.js';
import { healthRoutes } from './health-route.js';
import { AuthFailureThrottle } from './middleware/auth-failure-throttle.js';
import { csrfGuard } from './middleware/csrf-guard.js';
import { modelGuard } from './middleware/model-guard.js';
import { requestTimeout } from './middleware/request-timeout.js';
import { securityHeaders } from './middleware/security-headers.js';
import { streamLimit } from './middleware/stream-limit.js';
import { createServerMetrics } from './metrics/server-metrics.js';
import { metricsRoutes } from './metrics/metrics-route.js';
import { HttpProblem, problemResponse } from './problem.js';
import { bambooRoutes } from './routes/bamboo-api.js';
import { BAMBOO_PUBLIC_PATHS, bambooSettingsRoutes } from './routes/bamboo-settings.js';
import { deleteSessionTree } from './delete-session-tree.js';
import { createRetentionSweeper, retentionMs, type RetentionSweeper } from './retention-sweeper.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { eventRoutes } from './routes/v1-events.js';
import { runRoutes } from './routes/v1-runs.js';
import { runIndexRoutes } from './routes/v1-run-index.js';
import { runCauseRoutes } from './routes/v1-run-causes.js';
import { sessionRoutes } from './routes/v1-sessions.js';
import { workerRoutes } from './routes/v1-workers.js';
import { bearerGuard, hostGuard, LOOPBACK_NAMES, type HostPolicy } from './security.js';
import type { ServerContext } from './server-context.js';
import { sproutServerOptionsSchema, type ResolvedServerOptions, type SproutServerOptions } from './server-options.js';
import { SessionCatalog } from './session-catalog.js';
import { SseStreams } from './sse-stream.js';
import { toProblem } from './to-problem.js';
import { FeedJournal } from './v2/feed-journal.js';
import { feedRecorder } from './v2/feed-recorder.js';
import { recordRunChanges } from './v2/record-run-changes.js';
import { V2StreamHub } from './v2/v2-stream-hub.js';
import { v2StreamRoutes } from './v2/v2-stream-route.js';

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
  /** The account feed's journal behind `/v2/stream`'s `feed` channel (routes may record changes in it). */
  readonly feed: FeedJournal;
  /** The `/v2/stream` WebSocket sockets; {@link listenSproutServer} hands them the upgrades. */
  readonly v2Stream: V2StreamHub;
  /**
   * The retention policy (`retainDays`), or `undefined` without one. {@link listenSproutServer}
   * starts it and its `close()` stops it; a server used through `fetch` alone calls `start()`.
   */
  readonly retention: RetentionSweeper | undefined;
}

/**
 * Builds the HTTP API around a started scheduler: Sprout's API under `/v1` (JSON, RFC 9457
 * problems, resumable SSE), the Bamboo-compatible API under `/api/v1`, and the live dashboard at
 * `/`. Security: the `Host` header must name this server (DNS rebinding), a `token` makes every
 * request need `Authorization: Bearer` (wrong tokens are throttled per client), CORS only for the
 * `cors` origin, cross-site state changes refused (CSRF), security headers on every answer,
 * `models` as a cost guard, a timeout on every request but streams, caps on open streams, and
 * bodies limited to `maxBodyBytes` and validated with zod. Serve it with {@link listenSproutServer}.
 *
 * @example
 * const server = createSproutServer({ scheduler, store, models: ['gpt-4o-mini'] });
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
    now: opts.now ?? (() => (opts.clock ?? systemClock).now()),
  };
  const hostPolicy: HostPolicy = {
    names: new Set([...LOOPBACK_NAMES, ...opts.allowedHosts.map((name) => name.toLowerCase())]),
    port: undefined,
    trustProxy: opts.trustProxy,
  };
  const { trustProxy } = opts;
  const feed = new FeedJournal({ retain: opts.feedRetain, now: ctx.now });
  const v2Stream = new V2StreamHub({
    scheduler: opts.scheduler,
    store: opts.store,
    catalog: ctx.catalog,
    feed,
    keepaliveMs: opts.wsKeepaliveMs,
    maxPerClient: opts.maxStreamsPerClient,
    maxTotal: opts.maxStreams,
  });
  if (opts.runStates !== undefined) {
    // A failed read leaves that run out of the feed; its clients also poll the session list.
    recordRunChanges({ feed, runStates: opts.runStates, store: opts.store, now: ctx.now, onError: () => {} });
  }

  const app = new Hono();
  // A Hono middleware's own exception (the timeout's) carries its problem response.
  app.onError((error) => (error instanceof HTTPException ? error.getResponse() : problemResponse(toProblem(error, opts.onError))));
  app.notFound(() => problemResponse(new HttpProblem(404, 'NOT_FOUND', 'no such route')));
  // Outermost, so that every answer (a 421, a 401, a problem) carries the headers.
  app.use(securityHeaders({ trustProxy }));
  app.use(hostGuard(hostPolicy));
  if (opts.cors !== undefined) {
    app.use(
      cors({
        // Echoed only to exactly that origin, with credentials (lotus-next fetches with
        // `credentials: 'include'`, which a browser refuses with `*`).
        origin: new URL(opts.cors).origin,
        credentials: true,
        allowHeaders: ['authorization', 'content-type', 'last-event-id', 'if-match'],
        allowMethods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'],
        exposeHeaders: ['ETag', 'Location'],
        maxAge: 3600,
      }),
    );
  }
  app.use(csrfGuard({ cors: opts.cors, trustProxy }));
  if (opts.token !== undefined) {
    const throttle = new AuthFailureThrottle({ max: opts.maxAuthFailures, windowMs: opts.authFailureWindowMs, now: ctx.now });
    // Bamboo's login screen probes and logs in before it holds the cookie.
    app.use(bearerGuard(opts.token, { throttle, trustProxy, publicPaths: BAMBOO_PUBLIC_PATHS }));
  }
  app.use(streamLimit({ perClient: opts.maxStreamsPerClient, total: opts.maxStreams, trustProxy }));
  app.use(requestTimeout(opts.requestTimeoutMs));
  app.use(
    bodyLimit({
      maxSize: opts.maxBodyBytes,
      onError: () => problemResponse(new HttpProblem(413, 'BODY_TOO_LARGE', `request body is larger than ${opts.maxBodyBytes} bytes`)),
    }),
  );
  if (opts.models !== undefined) app.use(modelGuard({ models: opts.models, defaultModel: opts.defaultModel }));
  app.use(feedRecorder(feed, opts.store));
  app.route('/', healthRoutes(ctx));
  app.route('/', v2StreamRoutes({ hub: v2Stream, cors: opts.cors, trustProxy }));
  app.route('/v1/sessions', eventRoutes(ctx));
  app.route('/v1/sessions', sessionRoutes(ctx));
  app.route('/v1', runRoutes(ctx));
  app.route('/v1', runIndexRoutes(ctx));
  app.route('/v1', runCauseRoutes(ctx));
  app.route('/v1', workerRoutes(ctx));
  app.route('/api/v1', bambooRoutes(ctx));
  app.route('/', bambooSettingsRoutes(ctx));
  app.route('/', dashboardRoutes(ctx));
  if (opts.metrics) {
    const openStreams = () => ({ sse: ctx.streams.size, ws: v2Stream.size });
    app.route('/', metricsRoutes(createServerMetrics({ scheduler: opts.scheduler, runStates: opts.runStates, openStreams, now: ctx.now })));
  }

  const retention =
    opts.retainDays === undefined
      ? undefined
      : createRetentionSweeper({
          retainMs: retentionMs(opts.retainDays),
          intervalMs: opts.retentionIntervalMs,
          clock: opts.clock ?? systemClock,
          scheduler: opts.scheduler,
          catalog: ctx.catalog,
          deleteTree: async (rootId) => {
            const deleted = await deleteSessionTree({ scheduler: opts.scheduler, catalog: ctx.catalog }, rootId);
            feed.record(rootId, { type: 'session_deleted', session_id: rootId });
            return deleted;
          },
          onReport: opts.onRetention,
          onError: opts.onError,
        });

  return {
    fetch: (request, env) => app.fetch(request, env),
    retention,
    app,
    options: opts,
    hostPolicy,
    trackRoot: (sessionId) => ctx.catalog.addRoot(sessionId),
    closeStreams: () => {
      ctx.streams.closeAll();
      v2Stream.closeAll();
    },
    feed,
    v2Stream,
    get openStreams() {
      return ctx.streams.size;
    },
  };
}
