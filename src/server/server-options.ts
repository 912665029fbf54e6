import { z } from 'zod';
import type { SessionStore } from '../api/ports.js';
import type { SproutClock } from '../clock.js';
import type { RetentionReport } from './retention-report.js';
import type { ServerScheduler } from './server-scheduler.js';
import type { RunStateTracker } from './run-states.js';
import { isRunIndex, type RunIndex } from '../api/run-index.js';

/** Names of the sub-session events on the Bamboo API: the seed's `sub_session_*` or today's `sub_agent_*`. */
export const bambooDialectSchema = z.enum(['sub_session', 'sub_agent']);
/** A Bamboo event-name dialect. */
export type BambooDialect = z.infer<typeof bambooDialectSchema>;

const hasMethods =
  (...names: string[]) =>
  (value: unknown) =>
    typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

export type { ServerScheduler } from './server-scheduler.js';

/**
 * Options of {@link createSproutServer}, checked with zod.
 *
 * @example
 * createSproutServer({ scheduler, store, dialect: 'sub_agent', token: process.env.SPROUT_TOKEN });
 */
export const sproutServerOptionsSchema = z.strictObject({
  /** The scheduler the API drives (started by the caller). Required. */
  scheduler: z.custom<ServerScheduler>(
    hasMethods('spawnChild', 'events', 'cancel', 'cancelTree', 'getChild', 'waitForChildren', 'deleteSession'),
    'scheduler must be a SpawnScheduler (or the distributed front door)',
  ),
  /** The store the scheduler uses (sessions are read and roots created through it). Required. */
  store: z.custom<SessionStore>(hasMethods('load', 'save', 'delete', 'listChildren'), 'store must implement SessionStore'),
  /** Event names on `/api/v1`. @default 'sub_session' */
  dialect: bambooDialectSchema.default('sub_session'),
  /** Bearer token every request must carry (`Authorization: Bearer T`). @default none (loopback only) */
  token: z.string().min(16, 'token must be at least 16 characters').max(4096).optional(),
  /** Origin allowed by CORS (e.g. `http://localhost:5173`). @default none: no CORS headers */
  cors: z.string().url().optional(),
  /** Host names (without port) accepted in the `Host` header besides the loopback names. @default [] */
  allowedHosts: z.array(z.string().min(1)).default([]),
  /**
   * The server runs behind a reverse proxy that sets `X-Forwarded-Host`, `X-Forwarded-Proto` and
   * `X-Forwarded-For`: the `Host` check skips the port and also checks `X-Forwarded-Host`, the
   * dashboard cookie gets `Secure` when the proxy says `https`, and the client address (auth
   * throttling, stream caps) is the last `X-Forwarded-For` entry. Only behind a proxy that
   * overwrites those headers: anyone who reaches the port directly could forge them.
   * @default false
   */
  trustProxy: z.boolean().default(false),
  /**
   * Cost guard: the models a request may name (`model` of `POST /v1/sessions`, of a child brief,
   * of a message). Any other model is refused with 422 `MODEL_NOT_ALLOWED`; `defaultModel` is
   * always allowed. `sprout serve --provider` sets it to `[--model]` unless `--models` is given.
   * @default none: any model
   */
  models: z.array(z.string().min(1).max(200)).min(1).optional(),
  /** Longest a request may take, streams and the `/wait` long poll excepted: 503 `REQUEST_TIMEOUT` after. @default 30000 */
  requestTimeoutMs: z.number().int().min(10).max(3_600_000).default(30_000),
  /** Open SSE streams and long polls per client address: 429 `TOO_MANY_STREAMS` beyond. @default 32 */
  maxStreamsPerClient: z.number().int().min(1).max(100_000).default(32),
  /** Open SSE streams and long polls in all: 503 `SERVER_BUSY` beyond. @default 10000 */
  maxStreams: z.number().int().min(1).max(1_000_000).default(10_000),
  /** Distinct wrong tokens one client may present per `authFailureWindowMs` before 429 `TOO_MANY_AUTH_FAILURES`. @default 10 */
  maxAuthFailures: z.number().int().min(1).max(100_000).default(10),
  /** Window of `maxAuthFailures`; a client over the limit is refused until it ends. @default 60000 */
  authFailureWindowMs: z.number().int().min(1).max(86_400_000).default(60_000),
  /** Largest accepted request body in bytes. @default 65536 */
  maxBodyBytes: z
    .number()
    .int()
    .min(256)
    .max(16 * 1024 * 1024)
    .default(64 * 1024),
  /** Period of `: ping` / `: heartbeat` comments on idle SSE streams. @default 15000 */
  pingIntervalMs: z.number().int().min(10).default(15_000),
  /** Period of the `sys` keepalive frames and protocol pings on `/v2/stream` sockets (Bamboo: 2 s). @default 2000 */
  wsKeepaliveMs: z.number().int().min(10).max(3_600_000).default(2000),
  /** Changes the `/v2/stream` account feed keeps for replay; an older cursor gets `feed_reset`. @default 10000 */
  feedRetain: z.number().int().min(1).max(1_000_000).default(10_000),
  /** The `retry:` hint sent first on Sprout SSE streams. @default 3000 */
  retryMs: z.number().int().min(0).default(3000),
  /** Live job-machine states for the dashboard (see {@link createRunStateTracker}). @default none: states derived from events */
  runStates: z
    .custom<RunStateTracker>(hasMethods('snapshot', 'inspect', 'get'), 'runStates must come from createRunStateTracker')
    .optional(),
  /**
   * The run index `GET /v1/runs?…`, `GET /v1/runs/{runId}` and `POST /v1/runs/bulk` read (e.g. a
   * `MemoryEventLog`). @default the store, when it is one (`SqliteSessionStore`,
   * `PostgresSessionStore`); else those routes answer 501 `RUN_INDEX_UNAVAILABLE`
   */
  runIndex: z.custom<RunIndex>(isRunIndex, 'runIndex must implement queryRuns and getRun').optional(),
  /**
   * Serve Prometheus metrics at `GET /metrics` (queue depth, runs by state, completions, run
   * durations, tokens, open streams), behind the same token as every route. @default true
   */
  metrics: z.boolean().default(true),
  /**
   * Gets every error the API answered with a 500 or a 503 other than the scheduler's stop (the
   * response itself carries only a fixed sentence and the error's `code`): log it. @default none
   */
  onError: z.custom<(error: unknown) => void>((value) => typeof value === 'function').optional(),
  /**
   * Retention policy: delete **ended** root trees (no run queued or running in them) whose last
   * activity is older than this many days, with their events, ledger rows and streams (the path
   * of `DELETE /api/v1/sessions/{id}`). Runs once when the server starts listening and then every
   * `retentionIntervalMs` (`server.retention` runs it by hand). `sprout serve --retain-days N`.
   * @default none: sessions are kept until deleted
   */
  retainDays: z.number().positive().max(36_500).optional(),
  /** Time between retention passes. @default 3600000 (an hour) */
  retentionIntervalMs: z
    .number()
    .int()
    .min(1000)
    .max(7 * 86_400_000)
    .default(3_600_000),
  /** Gets the counts of every retention pass (deleted roots and sessions, kept, scanned, failed): log them. @default none */
  onRetention: z.custom<(report: RetentionReport) => void>((value) => typeof value === 'function').optional(),
  /**
   * The clock of the server's own timers (retention) and timestamps; a simulated clock in tests
   * (`createTestClock`). `now` wins for timestamps when both are given.
   * @default systemClock
   */
  clock: z.custom<SproutClock>(hasMethods('setTimeout', 'clearTimeout', 'now'), 'clock must be a SproutClock').optional(),
  /** Model of roots created with `POST /v1/sessions` when the body names none. @default 'default' */
  defaultModel: z.string().min(1).default('default'),
  /** Id generator for roots and messages. @default crypto.randomUUID */
  createId: z.custom<() => string>((value) => typeof value === 'function').optional(),
  /** Clock reading in ms for timestamps. @default Date.now */
  now: z.custom<() => number>((value) => typeof value === 'function').optional(),
});

/** What `createSproutServer` takes. */
export type SproutServerOptions = z.input<typeof sproutServerOptionsSchema>;
/** Options with defaults applied. */
export type ResolvedServerOptions = z.output<typeof sproutServerOptionsSchema>;
