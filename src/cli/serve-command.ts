import { readFileSync } from 'node:fs';
import { openAICompatibleAgent } from '../agents/ai-sdk/index.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import { CliUsageError, EXIT, oneLine } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { acquireDbLease } from './db-lease.js';
import { openDatabase } from './open-database.js';
import { systemClock } from '../clock.js';
import { createSpawnScheduler } from '../create-spawn-scheduler.js';
import { createDistributedScheduler } from '../distributed/distributed-scheduler.js';
import { createSproutServer } from '../server/create-sprout-server.js';
import { listenSproutServer, type ListenOptions } from '../server/listen-sprout-server.js';
import { modelAllowListAgent } from '../server/model-allow-list-agent.js';
import { createRunStateTracker } from '../server/run-states.js';
import { isLoopbackHost } from '../server/security.js';
import { parseServeArgs, SERVE_HELP, type ServeOptions } from './serve-args.js';
import type { SproutServer } from '../server/create-sprout-server.js';
import { serveDemoAgent } from '../server/serve-agent.js';
import type { SproutServerOptions } from '../server/server-options.js';

/** Heartbeat period of served runs: often enough for the dashboard's "last heartbeat" to move. */
const HEARTBEAT_MS = 1000;

/** The web-facing server options both modes share: token, CORS, host names, proxy, cost guard, and where failures are logged. */
function webOptions(options: ServeOptions, io: CliIo): Partial<SproutServerOptions> {
  return {
    // The client gets a fixed sentence and a code; the operator gets the error on stderr.
    onError: (error) => io.stderr.write(`sprout serve: request failed: ${oneLine(error)}\n`),
    allowedHosts: options.allowedHosts,
    trustProxy: options.trustProxy,
    ...(options.token === undefined ? {} : { token: options.token }),
    ...(options.cors === undefined ? {} : { cors: options.cors }),
    ...(options.models === undefined ? {} : { models: options.models }),
    ...(options.retainDays === undefined
      ? {}
      : {
          retainDays: options.retainDays,
          onRetention: (report) =>
            io.stderr.write(
              `sprout serve: retention: deleted ${report.roots} tree(s) (${report.sessions} session(s)) idle since before ${report.cutoff}; kept ${report.kept} still running or active${report.failed > 0 ? `; ${report.failed} failed` : ''}\n`,
            ),
        }),
  };
}

/** Where to listen, with the TLS files read (a file that cannot be read is a usage error). */
function listenOptions(options: ServeOptions): ListenOptions {
  if (options.tls === undefined) return { host: options.host, port: options.port };
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new CliUsageError(`sprout serve: ${flag} ${path}: ${oneLine(error)}`, { cause: error });
    }
  };
  return {
    host: options.host,
    port: options.port,
    tls: { cert: read('--tls-cert', options.tls.certPath), key: read('--tls-key', options.tls.keyPath) },
  };
}

/** A token sent over plain HTTP to the network can be read on the way: say so (a proxy may add TLS). */
function warnClearText(options: ServeOptions, io: CliIo): void {
  if (!isLoopbackHost(options.host) && options.tls === undefined && !options.trustProxy)
    io.stderr.write(
      `sprout serve: warning: --host ${options.host} without --tls-cert: the token travels in clear text; use TLS or a reverse proxy (docs/guides/deployment.md)\n`,
    );
}

/**
 * `sprout serve`: opens the database, starts a scheduler (the scripted demo agent unless
 * `--provider` is given) and serves the API and dashboard until SIGTERM / Ctrl+C, then drains:
 * running children finish, queued ones end `cancelled` (reason `shutdown`), every SSE client
 * gets its last events, and the command resolves 0. The first stdout line is
 * `listening on http://HOST:PORT` (`https://` with `--tls-cert`).
 *
 * @example
 * process.exitCode = await runServe(['--port', '0'], processIo());
 */
export async function runServe(argv: readonly string[], io: CliIo): Promise<number> {
  const options = parseServeArgs(argv, io.env ?? {});
  if (options.help) {
    io.stdout.write(`${SERVE_HELP}\n`);
    return EXIT.ok;
  }
  const listen = listenOptions(options);
  if (options.distributed) return runDistributedServe(options, options.distributed, listen, io);
  const cleanup: (() => unknown)[] = [];
  try {
    const db = openDatabase(options.db, { onEventLogError: (error) => io.stderr.write(`sprout: event log: ${oneLine(error)}\n`) });
    cleanup.unshift(() => db.close());
    const lease = acquireDbLease(options.db, 'serve');
    cleanup.unshift(() => lease.release());
    const provided: AgentRuntime = options.provider
      ? openAICompatibleAgent({
          baseURL: options.provider.baseURL,
          ...(io.env?.SPROUT_API_KEY ? { apiKey: io.env.SPROUT_API_KEY } : {}),
          defaultModel: options.provider.model,
        })
      : serveDemoAgent(systemClock);
    // The routes refuse another model up front; this also covers an agent's own spawn_session.
    const agent =
      options.models === undefined
        ? provided
        : modelAllowListAgent(provided, [...options.models, ...(options.provider ? [options.provider.model] : [])]);
    const runStates = createRunStateTracker();
    const scheduler = createSpawnScheduler({
      store: db.store,
      eventLog: db.eventLog,
      agent,
      clock: systemClock,
      concurrency: options.concurrency,
      perParentConcurrency: options.concurrency,
      queueCapacity: options.queueCapacity,
      maxDepth: options.maxDepth,
      heartbeatIntervalMs: HEARTBEAT_MS,
      inspect: runStates.inspect,
      onDiagnostic: (diagnostic) => io.stderr.write(`sprout: scheduler diagnostic: ${diagnostic.kind}\n`),
    });
    cleanup.unshift(() => scheduler.stop({ mode: 'cancel' }));
    const recovery = await scheduler.start();
    const server = createSproutServer({
      scheduler,
      store: db.store,
      dialect: options.dialect,
      runStates,
      ...webOptions(options, io),
      ...(options.provider === undefined ? {} : { defaultModel: options.provider.model }),
    });
    const listening = await listenOrExplain(server, listen);
    warnClearText(options, io);
    cleanup.unshift(() => listening.close());
    io.stdout.write(`listening on ${listening.url}\n`);
    if (recovery.interrupted.length > 0)
      io.stderr.write(`sprout serve: reconciled ${recovery.interrupted.length} run(s) a killed process left behind\n`);
    io.stderr.write(
      `sprout serve: dashboard ${listening.url}/${options.token === undefined ? '' : '?token=…'} · API ${listening.url}/v1 · Bamboo API ${listening.url}/api/v1 (${options.dialect})\n`,
    );

    await new Promise<void>((resolve) => {
      const off = io.onInterrupt(() => {
        off();
        resolve();
      });
    });
    io.stderr.write('sprout serve: draining: running children finish, queued ones are cancelled\n');
    await server.retention?.stop();
    await scheduler.stop({ mode: 'drain' });
    await listening.close();
    io.stderr.write('sprout serve: stopped\n');
    return EXIT.ok;
  } finally {
    for (const step of cleanup.splice(0)) await step();
  }
}

/**
 * `sprout serve --redis URL --postgres URL [--prefix NAME]`: the server as the distributed front
 * door. It enqueues runs on BullMQ and streams events from PostgreSQL (written by any worker);
 * `sprout worker` processes run the children. SIGTERM drains the HTTP side only: queued and
 * running runs carry on in the workers.
 */
async function runDistributedServe(
  options: ServeOptions,
  distributed: NonNullable<ServeOptions['distributed']>,
  listen: ListenOptions,
  io: CliIo,
): Promise<number> {
  const cleanup: (() => unknown)[] = [];
  try {
    const scheduler = createDistributedScheduler({
      redis: distributed.redis,
      postgres: distributed.postgres,
      prefix: distributed.prefix,
      queueCapacity: options.queueCapacity,
      maxDepth: options.maxDepth,
      onDiagnostic: (diagnostic) => io.stderr.write(`sprout: distributed diagnostic: ${diagnostic.kind}\n`),
    });
    cleanup.unshift(() => scheduler.stop());
    await scheduler.start();
    const server = createSproutServer({
      scheduler,
      store: scheduler.store,
      dialect: options.dialect,
      ...webOptions(options, io),
    });
    const listening = await listenOrExplain(server, listen);
    warnClearText(options, io);
    cleanup.unshift(() => listening.close());
    io.stdout.write(`listening on ${listening.url}\n`);
    io.stderr.write(
      `sprout serve: distributed front door (prefix ${distributed.prefix}): runs go to \`sprout worker\` processes · API ${listening.url}/v1 · Bamboo API ${listening.url}/api/v1\n`,
    );
    await new Promise<void>((resolve) => {
      const off = io.onInterrupt(() => {
        off();
        resolve();
      });
    });
    io.stderr.write('sprout serve: stopping: queued and running runs carry on in the workers\n');
    await listening.close();
    await scheduler.stop();
    io.stderr.write('sprout serve: stopped\n');
    return EXIT.ok;
  } finally {
    for (const step of cleanup.splice(0)) await step();
  }
}

/**
 * Listens, turning the usual reasons a port cannot be had into one line and exit code 2 (a flag
 * to change), instead of Node's bare `listen EADDRINUSE`.
 */
async function listenOrExplain(server: SproutServer, listen: ListenOptions): Promise<Awaited<ReturnType<typeof listenSproutServer>>> {
  try {
    return await listenSproutServer(server, listen);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const where = `${listen.host ?? '127.0.0.1'}:${listen.port ?? ''}`;
    if (code === 'EADDRINUSE')
      throw new CliUsageError(`sprout serve: port ${where} is already in use (another sprout serve?); pick another with --port`, {
        cause: error,
      });
    if (code === 'EACCES')
      throw new CliUsageError(
        `sprout serve: no permission to listen on ${where} (ports below 1024 need privileges); pick another with --port`,
        {
          cause: error,
        },
      );
    if (code === 'EADDRNOTAVAIL')
      throw new CliUsageError(`sprout serve: ${listen.host ?? ''} is not an address of this machine; check --host`, { cause: error });
    throw error;
  }
}
