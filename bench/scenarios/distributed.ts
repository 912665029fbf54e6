/**
 * distributed (issue 14): runs/s of distributed mode with 1, 2 and 4 `sprout worker` processes,
 * next to raw BullMQ no-op jobs on as many worker processes in the same run, and PostgreSQL event
 * appends/s.
 *
 * - **Sprout, distributed**: W `sprout worker` processes (`node --import tsx src/cli/main.ts worker
 *   --concurrency 16 --per-parent 10000 --agent-module bench/lib/noop-agent-module.ts`, an agent
 *   that answers at once), started and waited for (their `ready` line) before the timing. This
 *   process is the front door (`createDistributedScheduler`): it saves a root and N children in
 *   PostgreSQL (not timed), then enqueues the N runs (`enqueue`, 1,000 at a time) and times from
 *   the first enqueue until the N `sub_session_completed` are committed in PostgreSQL (counted on
 *   the front door's `events(root)`, i.e. LISTEN/NOTIFY + reads).
 * - **raw BullMQ**: W worker processes (this file run as `raw-bullmq-worker`, one no-op BullMQ
 *   `Worker` each, concurrency 16) on a prefix of their own; `addBulk` in chunks of 1,000 and time
 *   to the last completion (reported to this process over IPC).
 *   Target: Sprout distributed runs/s per worker / raw BullMQ jobs/s per worker ≥ 0.5 × for each W.
 * - **PostgreSQL appends**: `PostgresEventLog` appending 10,000 token events to one session in one
 *   tick (group commit), and 100 producers (one session each) each awaiting its appends (info).
 *
 * Counts: N = 2,000 runs (quick × 0.1, smoke 20 runs on 1 and 2 workers only). Services:
 * `SPROUT_REDIS_URL` (default `redis://127.0.0.1:6379`) and `SPROUT_POSTGRES_URL` (default
 * `postgres://root@127.0.0.1:5432/postgres`). Each run uses a prefix of its own
 * (`sprout_bench_<pid>_<random>`: Redis keys, BullMQ prefix and PostgreSQL schema; raw BullMQ on
 * `<prefix>_raw`); afterwards every child process is stopped (SIGTERM, then SIGKILL), the keys
 * under both prefixes are deleted (SCAN + DEL, never FLUSHDB) and the schema is dropped. When a
 * service is unreachable the rows are skipped with a message.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { tap, type Observable } from 'rxjs';
import { countCompletions } from '../lib/completions.js';
import { childSession, rootSession } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { DistributedScheduler } from '../../src/distributed/index.js';

const SCENARIO = 'distributed';
/** Concurrency of every worker process, both sides. */
const CONCURRENCY = 16;
const RATIO_TARGET = { op: '>=', value: 0.5 } as const;
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_POSTGRES_URL = 'postgres://root@127.0.0.1:5432/postgres';
const PRODUCERS = 100;
/** No completion for this long: the run is broken, fail it instead of waiting forever. */
const STALL_MS = 60_000;
const READY_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 15_000;
const RAW_WORKER_ARG = 'raw-bullmq-worker';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const AGENT_MODULE = fileURLToPath(new URL('../lib/noop-agent-module.ts', import.meta.url));
const THIS_FILE = fileURLToPath(import.meta.url);

const plural = (w: number): string => `${w} worker process${w === 1 ? '' : 'es'}`;
const metricNames = (w: number) => ({
  sprout: `Sprout distributed runs/s, ${plural(w)}`,
  raw: `raw BullMQ no-op jobs/s, ${plural(w)}`,
  ratio: `distributed / raw BullMQ per worker, ${plural(w)}`,
});
const APPEND_ONE_TICK = 'PostgresEventLog appends/s, one session, one tick';
const APPEND_PRODUCERS = `PostgresEventLog appends/s, ${PRODUCERS} producers awaiting each`;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The URL without its password, for messages. */
function shownUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

/** A connected Redis client, or why there is none. */
async function connectRedis(url: string): Promise<Redis | string> {
  let lastError = '';
  try {
    const { Redis } = await import('ioredis');
    const client = new Redis(url, { lazyConnect: true, connectTimeout: 2_000, maxRetriesPerRequest: 1, retryStrategy: () => null });
    client.on('error', (error: Error) => (lastError = error.message));
    try {
      await client.connect();
      await client.ping();
      return client;
    } catch (error) {
      client.disconnect();
      return lastError || message(error);
    }
  } catch (error) {
    return `ioredis not loadable: ${message(error)}`;
  }
}

/** Runs one statement on a connection of its own; `undefined` when it worked, else why not. */
async function postgresQuery(url: string, sql: string): Promise<string | undefined> {
  try {
    const { default: pg } = await import('pg');
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query(sql);
      return undefined;
    } finally {
      await client.end().catch(() => undefined);
    }
  } catch (error) {
    return message(error);
  }
}

/** Deletes every key under `<prefix>:*` (SCAN + DEL in batches); returns how many. */
async function deletePrefix(client: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1_000);
    cursor = next;
    if (keys.length > 0) deleted += await client.del(...keys);
  } while (cursor !== '0');
  return deleted;
}

/** Child processes of this scenario; killed on the way out whatever happens. */
const processes = new Set<ChildProcess>();
const killAll = (): void => {
  for (const child of processes) child.kill('SIGKILL');
};

/** A started process: its stderr so far, and a promise that rejects if it exits before {@link stopProcess}. */
interface Started {
  name: string;
  child: ChildProcess;
  stopping: boolean;
  stderr(): string;
  exited: Promise<number | null>;
}

function track(name: string, child: ChildProcess): Started {
  processes.add(child);
  let err = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => (err = (err + chunk).slice(-4_000)));
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      processes.delete(child);
      resolve(code);
    });
  });
  return { name, child, stopping: false, stderr: () => err.trim(), exited };
}

/** Resolves once `ready()` says so; rejects when the process exits first or takes too long. */
function whenReady(started: Started, ready: (resolve: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${started.name}: not ready after ${READY_TIMEOUT_MS} ms: ${started.stderr()}`)),
      READY_TIMEOUT_MS,
    );
    void started.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${started.name} exited (code ${code}) before it was ready: ${started.stderr() || '(no stderr)'}`));
    });
    ready(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** SIGTERM (a `sprout worker` drains), then SIGKILL after {@link STOP_TIMEOUT_MS}. */
async function stopProcess(started: Started): Promise<void> {
  started.stopping = true;
  if (started.child.exitCode !== null || started.child.signalCode !== null) return;
  started.child.kill('SIGTERM');
  const timer = setTimeout(() => started.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await started.exited;
  clearTimeout(timer);
}

/** Rejects as soon as one of the processes exits while it should be running. */
function crashOf(fleet: readonly Started[]): Promise<never> {
  const crashed = new Promise<never>((_, reject) => {
    for (const started of fleet) {
      void started.exited.then((code) => {
        if (!started.stopping)
          reject(new Error(`${started.name} exited (code ${code}) during the benchmark: ${started.stderr() || '(no stderr)'}`));
      });
    }
  });
  crashed.catch(() => undefined);
  return crashed;
}

/** Starts one `sprout worker` on the no-op agent and waits for its ready line. */
async function startSproutWorker(i: number, redisUrl: string, postgresUrl: string, prefix: string): Promise<Started> {
  const args = ['--import', 'tsx', CLI, 'worker', '--redis', redisUrl, '--postgres', postgresUrl, '--prefix', prefix];
  args.push('--concurrency', String(CONCURRENCY), '--per-parent', '10000', '--agent-module', AGENT_MODULE, '--name', `${prefix}-w${i}`);
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const started = track(`sprout worker ${i}`, child);
  let out = '';
  child.stdout?.setEncoding('utf8');
  await whenReady(started, (resolve) => {
    child.stdout?.on('data', (chunk: string) => {
      out += chunk;
      if (/^worker .* ready/m.test(out)) resolve();
    });
  });
  child.stdout?.resume();
  return started;
}

/** W raw BullMQ worker processes on one queue; counts their completions. */
interface RawFleet {
  processes: Started[];
  readonly done: number;
  readonly failed: number;
  /** Resolves once `done + failed >= total`; rejects on a stall or a crash. */
  until(total: number): Promise<void>;
}

async function startRawFleet(w: number, redisUrl: string, prefix: string, queueName: string): Promise<RawFleet> {
  let done = 0;
  let failed = 0;
  let waiter: { total: number; resolve: () => void } | undefined;
  const fleet: Started[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < w; i++) {
    const child = fork(THIS_FILE, [RAW_WORKER_ARG, redisUrl, prefix, queueName, String(CONCURRENCY)], {
      cwd: REPO_ROOT,
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    const started = track(`raw BullMQ worker ${i}`, child);
    fleet.push(started);
    ready.push(
      whenReady(started, (resolve) => {
        child.on('message', (raw: unknown) => {
          const msg = raw as { type: 'ready' } | { type: 'progress'; done: number; failed: number };
          if (msg.type === 'ready') return resolve();
          done += msg.done;
          failed += msg.failed;
          if (waiter && done + failed >= waiter.total) {
            const { resolve: wake } = waiter;
            waiter = undefined;
            wake();
          }
        });
      }),
    );
  }
  await Promise.all(ready);
  const crashed = crashOf(fleet);
  return {
    processes: fleet,
    get done() {
      return done;
    },
    get failed() {
      return failed;
    },
    until(total) {
      if (done + failed >= total) return Promise.resolve();
      const reached = new Promise<void>((resolve, reject) => {
        let seen = done + failed;
        const watchdog = setInterval(() => {
          if (done + failed === seen) {
            clearInterval(watchdog);
            reject(new Error(`raw BullMQ: stalled at ${done + failed}/${total} jobs for ${STALL_MS} ms`));
          }
          seen = done + failed;
        }, STALL_MS);
        waiter = {
          total,
          resolve: () => {
            clearInterval(watchdog);
            resolve();
          },
        };
      });
      return Promise.race([reached, crashed]);
    },
  };
}

/** The child side of {@link startRawFleet}: one no-op BullMQ worker, completions sent over IPC once per macrotask. */
async function rawWorkerMain([url, prefix, queueName, concurrency]: string[]): Promise<void> {
  const { Worker } = await import('bullmq');
  const worker = new Worker(queueName!, () => Promise.resolve(), {
    connection: { url: url!, maxRetriesPerRequest: null },
    prefix: prefix!,
    concurrency: Number(concurrency),
  });
  let done = 0;
  let failed = 0;
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (done + failed === 0) return;
    process.send?.({ type: 'progress', done, failed });
    done = 0;
    failed = 0;
  };
  const bump = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  worker.on('completed', () => {
    done += 1;
    bump();
  });
  worker.on('failed', () => {
    failed += 1;
    bump();
  });
  worker.on('error', (error) => process.stderr.write(`raw BullMQ worker: ${error.message}\n`));
  const stop = (): void => {
    void worker.close().finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  await worker.waitUntilReady();
  process.send?.({ type: 'ready' });
}

/** Waits for `n` completions on the root's stream; when retention truncated the stream under the reader, counts finished children in PostgreSQL instead. */
async function completionsIn(front: DistributedScheduler, rootId: string, n: number, start: () => Promise<void>, crashed: Promise<never>) {
  let truncated = false;
  let onTruncated: () => void = () => undefined;
  const truncation = new Promise<void>((resolve) => (onTruncated = resolve));
  const events$: Observable<SessionEventEnvelope> = front.events(rootId, { afterSeq: 0 }).pipe(
    tap(({ event }) => {
      if (event.type === 'stream_truncated' && !truncated) {
        truncated = true;
        onTruncated();
      }
    }),
  );
  const counter = countCompletions(events$);
  try {
    await start();
    const counted = counter.until(n, STALL_MS);
    counted.catch(() => undefined);
    await Promise.race([counted, truncation, crashed]);
    if (truncated) {
      const sql = `SELECT count(*)::int AS n FROM ${front.store.database.quoted}.sessions
                   WHERE parent_session_id = $1 AND last_run_status IS NOT NULL AND last_run_status NOT IN ('pending', 'running')`;
      let last = -1;
      let lastChange = performance.now();
      for (;;) {
        const [row] = await front.store.database.query<{ n: number }>(sql, [rootId], 'counting finished children');
        const finished = row?.n ?? 0;
        if (finished >= n) break;
        if (finished !== last) [last, lastChange] = [finished, performance.now()];
        else if (performance.now() - lastChange > STALL_MS) throw new Error(`distributed: stalled at ${finished}/${n} finished children`);
        await Promise.race([new Promise((resolve) => setTimeout(resolve, 5)), crashed]);
      }
    }
    return { truncated, problems: counter.problems() };
  } finally {
    counter.unsubscribe();
  }
}

export async function distributed(config: BenchConfig): Promise<ScenarioOutput> {
  const workerCounts = config.mode === 'smoke' ? [1, 2] : [1, 2, 4];
  const n = config.count(2_000, 20);
  const appends = config.count(10_000, 200);
  const redisUrl = process.env.SPROUT_REDIS_URL || DEFAULT_REDIS_URL;
  const postgresUrl = process.env.SPROUT_POSTGRES_URL || DEFAULT_POSTGRES_URL;
  const prefix = `sprout_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
  const rawPrefix = `${prefix}_raw`;
  const warmup = config.mode === 'smoke' ? 0 : 1;
  const notes: string[] = [];
  const metrics: Metric[] = [];
  const skipProcessRows = (reason: string): void => {
    for (const w of workerCounts) {
      const names = metricNames(w);
      metrics.push(
        { scenario: SCENARIO, metric: names.sprout, unit: 'runs/s', samples: [], skipped: reason },
        { scenario: SCENARIO, metric: names.raw, unit: 'jobs/s', samples: [], skipped: reason },
        { scenario: SCENARIO, metric: names.ratio, unit: 'x', samples: [], target: RATIO_TARGET, skipped: reason },
      );
    }
  };

  const postgresDown = await postgresQuery(postgresUrl, 'SELECT 1');
  const redis = await connectRedis(redisUrl);
  const postgresReason =
    postgresDown === undefined
      ? undefined
      : `PostgreSQL unreachable at ${shownUrl(postgresUrl)} (set SPROUT_POSTGRES_URL): ${postgresDown}`;
  const redisReason = typeof redis === 'string' ? `Redis unreachable at ${shownUrl(redisUrl)} (set SPROUT_REDIS_URL): ${redis}` : undefined;

  process.on('exit', killAll);
  let front: DistributedScheduler | undefined;
  try {
    // 1 + 2: distributed runs/s and raw BullMQ jobs/s, W worker processes each.
    if (postgresReason || typeof redis === 'string') {
      skipProcessRows(postgresReason || redisReason!);
    } else {
      const { createDistributedScheduler } = await import('../../src/distributed/index.js');
      const { Queue } = await import('bullmq');
      front = createDistributedScheduler({ redis: redisUrl, postgres: postgresUrl, prefix });
      await front.start();
      const connection = { url: redisUrl, maxRetriesPerRequest: null };
      for (const w of workerCounts) {
        const names = metricNames(w);
        config.log(`distributed: starting ${w} sprout worker + ${w} raw BullMQ worker process(es)`);
        const queueName = `noop-w${w}`;
        const fleet: Started[] = [];
        let raw: RawFleet | undefined;
        let queue: Queue | undefined;
        try {
          const sprouts = await Promise.all(Array.from({ length: w }, (_, i) => startSproutWorker(i, redisUrl, postgresUrl, prefix)));
          fleet.push(...sprouts);
          raw = await startRawFleet(w, redisUrl, rawPrefix, queueName);
          fleet.push(...raw.processes);
          queue = new Queue(queueName, { connection, prefix: rawPrefix });
          queue.on('error', () => undefined);
          await queue.waitUntilReady();
          const crashed = crashOf(sprouts);
          const rawFleet = raw;
          const rawQueue = queue;
          const distributedFront = front;

          const sproutRun = async (size: number, label: string): Promise<number> => {
            const rootId = `bench_w${w}_${label}`;
            const ids = Array.from({ length: size }, (_, i) => `${rootId}_c${i}`);
            await distributedFront.store.save(rootSession(rootId));
            for (let i = 0; i < size; i += 100) {
              await Promise.all(ids.slice(i, i + 100).map((id) => distributedFront.store.save(childSession(id, rootId))));
            }
            let begin = 0;
            const outcome = await completionsIn(
              distributedFront,
              rootId,
              size,
              async () => {
                begin = performance.now();
                for (let i = 0; i < size; i += 1_000) {
                  await Promise.all(
                    ids
                      .slice(i, i + 1_000)
                      .map((id) => distributedFront.enqueue({ parentSessionId: rootId, childSessionId: id, model: 'bench-model' })),
                  );
                }
              },
              crashed,
            );
            const ms = performance.now() - begin;
            if (outcome.problems) throw new Error(`distributed: runs that did not complete: ${outcome.problems}`);
            if (outcome.truncated)
              notes.push(`${label}, ${plural(w)}: the root's stream was truncated under the reader; completions counted in PostgreSQL`);
            return size / (ms / 1000);
          };

          const rawRun = async (size: number): Promise<number> => {
            const target = rawFleet.done + rawFleet.failed + size;
            const failedBefore = rawFleet.failed;
            const begin = performance.now();
            for (let i = 0; i < size; i += 1_000) {
              const chunk = Math.min(1_000, size - i);
              await rawQueue.addBulk(
                Array.from({ length: chunk }, (_, k) => ({
                  name: 'noop',
                  data: { i: i + k },
                  opts: { removeOnComplete: true, removeOnFail: true },
                })),
              );
            }
            await rawFleet.until(target);
            const ms = performance.now() - begin;
            if (rawFleet.failed > failedBefore)
              throw new Error(`${rawFleet.failed - failedBefore} of ${size} raw BullMQ no-op jobs failed`);
            return size / (ms / 1000);
          };

          const runs = await sample(config.runs, warmup, async (run) => {
            const size = run < 0 ? Math.min(n, 200) : n;
            const label = run < 0 ? `warmup${-run}` : `run${run + 1}`;
            // Alternate the order so neither side always runs first.
            let sprout: number;
            let rawPerSec: number;
            if (run % 2 === 0) {
              rawPerSec = await rawRun(size);
              sprout = await sproutRun(size, label);
            } else {
              sprout = await sproutRun(size, label);
              rawPerSec = await rawRun(size);
            }
            if (run >= 0)
              config.log(
                `distributed ${label}, ${plural(w)}: Sprout ${sprout.toFixed(0)} runs/s (${(sprout / w).toFixed(0)}/worker), raw BullMQ ${rawPerSec.toFixed(0)} jobs/s (${(rawPerSec / w).toFixed(0)}/worker)`,
              );
            return { sprout, raw: rawPerSec };
          });
          metrics.push(
            { scenario: SCENARIO, metric: names.sprout, unit: 'runs/s', samples: runs.map((r) => r.sprout) },
            { scenario: SCENARIO, metric: names.raw, unit: 'jobs/s', samples: runs.map((r) => r.raw) },
            // Same W on both sides: the per-worker ratio is the ratio of the totals.
            {
              scenario: SCENARIO,
              metric: names.ratio,
              unit: 'x',
              samples: runs.map((r) => r.sprout / w / (r.raw / w)),
              target: RATIO_TARGET,
            },
          );
        } finally {
          await Promise.all(fleet.map(stopProcess));
          if (queue) {
            await queue.obliterate({ force: true }).catch(() => undefined);
            await queue.close().catch(() => undefined);
          }
        }
      }
      notes.push(
        `${n} runs / jobs per run and worker count (warm-up ${warmup ? 'of ≤ 200 first' : 'none'}), concurrency ${CONCURRENCY} per worker process on both sides, ${workerCounts.join(', ')} worker processes; machine has the workers, Redis, PostgreSQL and this front door on the same CPUs`,
        `Sprout: \`sprout worker --concurrency ${CONCURRENCY} --per-parent 10000 --agent-module bench/lib/noop-agent-module.ts\` processes, one root per run, children saved first (not timed), timed from the first front-door enqueue to the last sub_session_completed read back from PostgreSQL; raw BullMQ: worker processes (bench/scenarios/distributed.ts raw-bullmq-worker), addBulk in chunks of 1,000, removeOnComplete`,
        `prefix ${prefix} (Redis keys, BullMQ prefix, PostgreSQL schema) and ${rawPrefix} (raw BullMQ); Redis ${shownUrl(redisUrl)}, PostgreSQL ${shownUrl(postgresUrl)}`,
      );
    }

    // 3: PostgreSQL event appends/s.
    if (postgresReason) {
      metrics.push(
        { scenario: SCENARIO, metric: APPEND_ONE_TICK, unit: 'appends/s', samples: [], skipped: postgresReason },
        { scenario: SCENARIO, metric: APPEND_PRODUCERS, unit: 'appends/s', samples: [], skipped: postgresReason },
      );
    } else {
      const { PostgresEventLog } = await import('../../src/adapters/postgres/index.js');
      const log = new PostgresEventLog({ connectionString: postgresUrl, schema: prefix });
      const perProducer = Math.max(1, Math.round(appends / PRODUCERS));
      try {
        const token = { type: 'token', content: 'tok ' } as const;
        // Untimed: connects the pool and migrates the schema when the process rows did not.
        await log.append('appends_probe', token);
        const runs = await sample(config.runs, warmup, async (run) => {
          const label = run < 0 ? `warmup${-run}` : `run${run + 1}`;
          let begin = performance.now();
          await Promise.all(Array.from({ length: appends }, () => log.append(`appends_${label}`, token)));
          const oneTick = appends / ((performance.now() - begin) / 1000);
          begin = performance.now();
          await Promise.all(
            Array.from({ length: PRODUCERS }, async (_, p) => {
              for (let k = 0; k < perProducer; k++) await log.append(`producer_${label}_${p}`, token);
            }),
          );
          const producers = (PRODUCERS * perProducer) / ((performance.now() - begin) / 1000);
          if (run >= 0)
            config.log(`distributed appends ${label}: one tick ${oneTick.toFixed(0)}/s, ${PRODUCERS} producers ${producers.toFixed(0)}/s`);
          return { oneTick, producers };
        });
        metrics.push(
          { scenario: SCENARIO, metric: APPEND_ONE_TICK, unit: 'appends/s', samples: runs.map((r) => r.oneTick) },
          { scenario: SCENARIO, metric: APPEND_PRODUCERS, unit: 'appends/s', samples: runs.map((r) => r.producers) },
        );
        notes.push(
          `appends: ${appends} token events to one session appended in one tick (group commit, maxBatch 10,000); then ${PRODUCERS} producers, one session each, each awaiting ${perProducer} appends in turn; retention 1000, NOTIFY on`,
        );
      } finally {
        await log.close();
      }
    }
    return { metrics, notes };
  } finally {
    killAll();
    await front?.stop().catch((error: unknown) => config.log(`distributed: front door stop: ${message(error)}`));
    if (typeof redis !== 'string') {
      try {
        const deleted = (await deletePrefix(redis, prefix)) + (await deletePrefix(redis, rawPrefix));
        if (deleted > 0) config.log(`distributed: deleted ${deleted} key(s) under ${prefix}:* and ${rawPrefix}:*`);
      } finally {
        await redis.quit().catch(() => redis.disconnect());
      }
    }
    if (!postgresReason) {
      const dropped = await postgresQuery(postgresUrl, `DROP SCHEMA IF EXISTS "${prefix}" CASCADE`);
      if (dropped) config.log(`distributed: could not drop schema ${prefix}: ${dropped}`);
    }
    process.off('exit', killAll);
  }
}

// Run as `node --import tsx bench/scenarios/distributed.ts raw-bullmq-worker …`: one raw BullMQ worker process of the benchmark.
if (process.argv[2] === RAW_WORKER_ARG && process.argv[1] !== undefined && pathToFileURL(process.argv[1]).href === import.meta.url) {
  await rawWorkerMain(process.argv.slice(3));
}
