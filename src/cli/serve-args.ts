import { z } from 'zod';
import { CliUsageError } from './cli-error.js';
import { bambooDialectSchema, type BambooDialect } from '../server/server-options.js';
import { isLoopbackHost } from '../server/security.js';
import { validatePrefix } from '../distributed/keys.js';
import { DEFAULT_MAX_DEPTH, MAX_DEPTH_ENV, maxDepthFlagSchema, maxDepthInput, parseCommandFlags } from './command-flags.js';

/** Default port of `sprout serve`. */
export const DEFAULT_SERVE_PORT = 7433;
/** Default database of `sprout serve` (the demo's). */
export const DEFAULT_SERVE_DB = '.sprout/sprout.db';
/** Default bound of the queue (runs waiting to start) beyond which spawns get 429: the embedded scheduler's default. */
export const DEFAULT_QUEUE_CAPACITY = 128;

/** `sprout serve …`, parsed. */
export interface ServeOptions {
  db: string;
  host: string;
  port: number;
  dialect: BambooDialect;
  token: string | undefined;
  cors: string | undefined;
  concurrency: number;
  /** Runs waiting to start (embedded: in the scheduler; distributed: across every worker) before spawns get 429. */
  queueCapacity: number;
  /**
   * `--max-depth N` (or `SPROUT_MAX_DEPTH`, as for `sprout worker`): deepest child `spawnChild`
   * creates (root = 0) and how many levels a child's events are forwarded up.
   */
  maxDepth: number;
  /** Run children on an OpenAI-compatible server instead of the scripted agent. */
  provider: { baseURL: string; model: string } | undefined;
  /**
   * Cost guard: the models a request (or an agent's `spawn_session`) may name. `--models a,b`;
   * with `--provider` and no `--models`, just `--model` (a request cannot pick another). Undefined:
   * any model (the scripted agent costs nothing).
   */
  models: string[] | undefined;
  /** `--allowed-host`: more names accepted in the `Host` header. */
  allowedHosts: string[];
  /** `--trust-proxy`: behind a reverse proxy that sets `X-Forwarded-*`. */
  trustProxy: boolean;
  /** `--retain-days N`: delete ended root trees idle for longer than N days (undefined: keep everything). */
  retainDays: number | undefined;
  /** `--tls-cert` / `--tls-key`: PEM files to serve HTTPS with. */
  tls: { certPath: string; keyPath: string } | undefined;
  /**
   * Distributed mode: the server is the front door (it enqueues and streams; `sprout worker`
   * processes run the children). Set when `--redis` and `--postgres` are given.
   */
  distributed: { redis: string; postgres: string; prefix: string } | undefined;
  help: boolean;
}

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be an integer').transform(Number).pipe(z.number().int().min(min).max(max));

/** A DNS name, an IPv4 address or a bracketed IPv6 address: what a `Host` header names, without the port. */
const HOST_NAME = /^(\[[0-9a-f:.]+\]|[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*)$/;

const flagsSchema = z.object({
  db: z.string().min(1).max(4096).default(DEFAULT_SERVE_DB),
  host: z.string().min(1).max(255).default('127.0.0.1'),
  port: int(0, 65_535).default(DEFAULT_SERVE_PORT),
  dialect: bambooDialectSchema.default('sub_session'),
  token: z.string().min(16, 'must be at least 16 characters').max(4096).optional(),
  cors: z.url({ protocol: /^https?$/ }).optional(),
  concurrency: int(1, 256).default(4),
  'queue-capacity': int(1, 10_000_000).default(DEFAULT_QUEUE_CAPACITY),
  'max-depth': maxDepthFlagSchema,
  provider: z.literal('openai-compatible').optional(),
  'base-url': z.url({ protocol: /^https?$/ }).optional(),
  model: z.string().min(1).max(500).optional(),
  models: z
    .string()
    .transform((list) => list.split(',').map((name) => name.trim()))
    .pipe(z.array(z.string().min(1, 'must be a comma-separated list of model names').max(200)).min(1))
    .optional(),
  'allowed-host': z
    .array(z.string())
    .transform((values) => values.flatMap((value) => value.split(',')).map((name) => name.trim().toLowerCase()))
    .pipe(z.array(z.string().regex(HOST_NAME, 'must be host names without port or scheme (a.example, 10.0.0.5, [fd00::1])')))
    .default([]),
  'trust-proxy': z.boolean().default(false),
  'retain-days': int(1, 36_500).optional(),
  'tls-cert': z.string().min(1).max(4096).optional(),
  'tls-key': z.string().min(1).max(4096).optional(),
  redis: z.url({ protocol: /^rediss?$/ }).optional(),
  postgres: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  prefix: z.string().max(64).optional(),
  help: z.boolean().default(false),
});

/** Flags that only mean something in embedded mode (the workers run the children and hold nothing local). */
const EMBEDDED_ONLY = {
  db: 'sessions live in PostgreSQL',
  concurrency: 'give --concurrency to each `sprout worker` (or --global-concurrency)',
  provider: 'the workers run the agent: give --provider to `sprout worker`',
  'base-url': 'the workers run the agent: give --base-url to `sprout worker`',
  model: 'the workers run the agent: give --model to `sprout worker`',
} as const;

/**
 * Parses `sprout serve`'s flags (after the command name). `SPROUT_TOKEN` stands in for
 * `--token`, `SPROUT_REDIS_URL`, `SPROUT_POSTGRES_URL`, `SPROUT_PREFIX` (distributed mode only) and `SPROUT_MAX_DEPTH` for `--redis`,
 * `--postgres` and `--max-depth` (as for `sprout worker`). A flag that does not apply in the chosen mode is refused (`--db` or
 * `--concurrency` in distributed mode, `--prefix` in embedded mode). A non-loopback `--host`, `--trust-proxy` or a non-loopback `--allowed-host` without
 * a token is refused: the API would be open to the network. Throws a one-line {@link CliUsageError} for anything it does not accept.
 *
 * @example
 * parseServeArgs(['--port', '0', '--dialect', 'sub_agent'], {}); // { port: 0, dialect: 'sub_agent', … }
 */
export function parseServeArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): ServeOptions {
  const values = parseCommandFlags('serve', argv, {
    db: { type: 'string' },
    host: { type: 'string' },
    port: { type: 'string' },
    dialect: { type: 'string' },
    token: { type: 'string' },
    cors: { type: 'string' },
    concurrency: { type: 'string' },
    'queue-capacity': { type: 'string' },
    'max-depth': { type: 'string' },
    provider: { type: 'string' },
    'base-url': { type: 'string' },
    model: { type: 'string' },
    models: { type: 'string' },
    'allowed-host': { type: 'string', multiple: true },
    'trust-proxy': { type: 'boolean' },
    'retain-days': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    redis: { type: 'string' },
    postgres: { type: 'string' },
    prefix: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  const fromEnv = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const token = values.token ?? fromEnv('SPROUT_TOKEN');
  const redis = values.redis ?? fromEnv('SPROUT_REDIS_URL');
  const postgres = values.postgres ?? fromEnv('SPROUT_POSTGRES_URL');
  if (values.help !== true && redis !== undefined && postgres !== undefined) {
    const given = Object.keys(EMBEDDED_ONLY).find((flag) => values[flag as keyof typeof EMBEDDED_ONLY] !== undefined);
    if (given !== undefined) {
      throw new CliUsageError(
        `sprout serve: --${given} does not apply in distributed mode (--redis/--postgres or SPROUT_REDIS_URL/SPROUT_POSTGRES_URL): ${EMBEDDED_ONLY[given as keyof typeof EMBEDDED_ONLY]}`,
      );
    }
  }
  // SPROUT_PREFIX names the deployment in distributed mode only (an embedded server ignores it; the flag is refused there).
  const prefix = values.prefix ?? (redis !== undefined && postgres !== undefined ? fromEnv('SPROUT_PREFIX') : undefined);
  const parsed = flagsSchema.safeParse({ ...values, token, redis, postgres, prefix, 'max-depth': maxDepthInput(values, env) });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliUsageError(`sprout serve: --${issue?.path.join('.') ?? '?'} ${issue?.message ?? 'is invalid'}`);
  }
  const flags = parsed.data;
  if (!isLoopbackHost(flags.host) && flags.token === undefined) {
    throw new CliUsageError(`sprout serve: --host ${flags.host} is not a loopback address; it needs --token T (or SPROUT_TOKEN)`);
  }
  // A proxy or a public name exposes a loopback-bound server just as much as a public --host.
  const exposedBy = flags['trust-proxy']
    ? '--trust-proxy'
    : flags['allowed-host'].find((name) => !isLoopbackHost(name) && !name.endsWith('.localhost'));
  if (exposedBy !== undefined && flags.token === undefined) {
    throw new CliUsageError(
      `sprout serve: ${exposedBy === '--trust-proxy' ? exposedBy : `--allowed-host ${exposedBy}`} serves the network; it needs --token T (or SPROUT_TOKEN)`,
    );
  }
  const providerFlags = [flags.provider, flags['base-url'], flags.model];
  if (providerFlags.some((value) => value !== undefined) && providerFlags.some((value) => value === undefined)) {
    throw new CliUsageError('sprout serve: --provider openai-compatible needs --base-url URL and --model NAME');
  }
  if ((flags.redis === undefined) !== (flags.postgres === undefined)) {
    const [have, missing] = flags.redis === undefined ? ['postgres', 'redis'] : ['redis', 'postgres'];
    throw new CliUsageError(
      `sprout serve: distributed mode needs both --redis URL and --postgres URL: --${have} (or SPROUT_${have.toUpperCase()}_URL) is set, --${missing} (or SPROUT_${missing.toUpperCase()}_URL) is not`,
    );
  }
  if (flags.prefix !== undefined && flags.redis === undefined) {
    throw new CliUsageError(
      'sprout serve: --prefix does not apply in embedded mode: it is for distributed mode (with --redis and --postgres)',
    );
  }
  if (flags.prefix !== undefined) {
    try {
      validatePrefix(flags.prefix);
    } catch {
      throw new CliUsageError(
        `sprout serve: --prefix ${flags.prefix} must be lowercase letters, digits and _, start with a letter or _, at most 48 characters, not pg_…`,
      );
    }
  }
  if ((flags['tls-cert'] === undefined) !== (flags['tls-key'] === undefined)) {
    throw new CliUsageError('sprout serve: TLS needs both --tls-cert PATH and --tls-key PATH');
  }
  return {
    db: flags.db,
    host: flags.host,
    port: flags.port,
    dialect: flags.dialect,
    token: flags.token,
    cors: flags.cors,
    concurrency: flags.concurrency,
    queueCapacity: flags['queue-capacity'],
    maxDepth: flags['max-depth'],
    provider: flags['base-url'] !== undefined && flags.model !== undefined ? { baseURL: flags['base-url'], model: flags.model } : undefined,
    models: flags.models ?? (flags.provider !== undefined && flags.model !== undefined ? [flags.model] : undefined),
    allowedHosts: flags['allowed-host'],
    trustProxy: flags['trust-proxy'],
    retainDays: flags['retain-days'],
    tls:
      flags['tls-cert'] !== undefined && flags['tls-key'] !== undefined
        ? { certPath: flags['tls-cert'], keyPath: flags['tls-key'] }
        : undefined,
    distributed:
      flags.redis !== undefined && flags.postgres !== undefined
        ? { redis: flags.redis, postgres: flags.postgres, prefix: flags.prefix ?? 'sprout' }
        : undefined,
    help: flags.help,
  };
}

/** `sprout serve --help`. */
export const SERVE_HELP = `sprout serve: an HTTP server for the scheduler — Sprout's API under /v1 (JSON, resumable SSE),
a Bamboo-compatible API under /api/v1, and a live dashboard at / (works offline).

Options:
  --db PATH            SQLite file, created on first use (default ${DEFAULT_SERVE_DB}; :memory: for
                       none; embedded mode only)
  --host HOST          interface to listen on (default 127.0.0.1); a non-loopback host needs --token
  --port N             port (default ${DEFAULT_SERVE_PORT}; 0 = any free port)
  --dialect D          event names on /api/v1: sub_session (default) or sub_agent (today's Bamboo)
  --token T            every request needs Authorization: Bearer T (also SPROUT_TOKEN); open the
                       dashboard once as /?token=T
  --cors ORIGIN        allow this browser origin (default: no CORS)
  --concurrency N      runs at once (1-256, default 4; embedded mode only)
  --queue-capacity N   runs waiting to start before a spawn gets 429 QUEUE_FULL with Retry-After
                       (default ${DEFAULT_QUEUE_CAPACITY}); in distributed mode, across every worker
  --max-depth N        deepest child a spawn creates (root = 0; 0-1000, default ${DEFAULT_MAX_DEPTH}) and how many
                       levels a child's events are forwarded up (also ${MAX_DEPTH_ENV}); in
                       distributed mode, give every \`sprout worker\` the same
  --provider openai-compatible --base-url URL --model NAME
                       run children on a real model (API key from SPROUT_API_KEY) instead of the
                       scripted demo agent; requests cannot pick another model unless --models
                       lists it
  --models A,B         cost guard: the only models a request may name (--model is always
                       allowed); any other gets 422 MODEL_NOT_ALLOWED (default: --model only with
                       --provider, any without)
  --tls-cert PATH --tls-key PATH
                       serve HTTPS with this PEM certificate and key (the dashboard cookie is
                       then Secure)
  --allowed-host NAME  also accept this name in the Host header (repeatable, or a,b): a DNS name
                       of this server or of its reverse proxy; needs --token
  --trust-proxy        behind a reverse proxy: read X-Forwarded-Host/-Proto/-For and skip the
                       Host port check; needs --token. Only when nothing but the proxy can reach
                       the port
  --retain-days N      retention: delete ended root trees (no run queued or running) idle for
                       more than N days, with their events; checked at start and hourly
                       (default: keep everything)
  --redis URL --postgres URL [--prefix NAME]
                       distributed mode: this server is the front door (sessions and events in
                       PostgreSQL, runs queued on BullMQ in Redis); \`sprout worker\` processes run
                       the children. Also SPROUT_REDIS_URL, SPROUT_POSTGRES_URL and SPROUT_PREFIX, as
                       for \`sprout worker\`. --prefix isolates the Redis keys and the PostgreSQL
                       schema (default sprout). --db, --concurrency and --provider are refused there

The first line on stdout is "listening on http://HOST:PORT" (https with TLS). SIGTERM or Ctrl+C
drains: running children finish, queued ones are cancelled, clients get their last events, exit 0.
Guides: docs/guides/server.md, docs/guides/deployment.md, docs/guides/distributed.md`;
