/**
 * round-trips (issue 19): what one distributed run costs in round trips, and its runs/s next to
 * raw BullMQ jobs/s per worker, all in this process.
 *
 * - **Sprout, distributed**: one front door (`createDistributedScheduler`) and W in-process
 *   workers (`createWorker`, concurrency 16, per-parent 10,000, the no-op agent of
 *   `bench/lib/noop-agent-module.ts`), each on a `pg.Pool` of this benchmark whose clients'
 *   `query` is counted. The front door saves a root and N children (not counted), then `enqueue`s
 *   the N runs; counted and timed from the first enqueue until the N `sub_session_completed` are
 *   read back (by a separate, uncounted `PostgresEventLog.live`) and every job is completed in
 *   BullMQ. Reports **PostgreSQL statements per run** (front door and workers; `BEGIN` and
 *   `COMMIT` count), **Redis commands per run** (every ioredis connection of the process, counted
 *   on the client: other users of the same Redis do not show) and Redis round trips per run (a
 *   pipeline counts once), with the biggest kinds in the notes; and the **CPU per run** of this
 *   process (front door, workers, the observer: `process.cpuUsage`), of the PostgreSQL backends
 *   serving its connections and of the Redis server (`/proc`, see `bench/lib/service-cpu.ts`;
 *   Redis's other clients count too).
 * - **raw BullMQ**: a `Queue` and W no-op `Worker`s (concurrency 16) on a prefix of their own:
 *   `addBulk` N jobs and time to the last completion; its Redis commands and CPU per job too.
 *
 * Counts: N = 1,000 runs (quick 100, smoke 20 on one worker; full and quick also two workers).
 * Services: `SPROUT_REDIS_URL` / `SPROUT_POSTGRES_URL` (default the local ones); prefix
 * `sprout_rt_<pid>_<random>` (Redis keys, BullMQ prefix, schema; raw BullMQ on `<prefix>_raw`),
 * deleted afterwards (SCAN + DEL, schema dropped). Unreachable services skip the rows. Nothing
 * here asserts a timing; the targets (≤ 8 statements, ≤ 8 commands per run) are the issue's.
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool } from 'pg';
import type { Redis } from 'ioredis';
import { countCompletions } from '../lib/completions.js';
import { childSession, rootSession } from '../lib/fixtures.js';
import { countRedisCommands, countStatements, topKinds, type CommandCounter } from '../lib/round-trip-counters.js';
import { cpuMeter } from '../lib/service-cpu.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import noopAgent from '../lib/noop-agent-module.js';

const SCENARIO = 'round-trips';
const CONCURRENCY = 16;
const PROBE = 'bench-probe';
const STALL_MS = 60_000;
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const DEFAULT_POSTGRES_URL = 'postgres://root@127.0.0.1:5432/postgres';
const STATEMENTS_TARGET = { op: '<=', value: 8 } as const;
const COMMANDS_TARGET = { op: '<=', value: 8 } as const;

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));
const plural = (w: number): string => `${w} worker${w === 1 ? '' : 's'}`;

/** Deletes every key under `<prefix>:*` (SCAN + DEL, never FLUSHDB). */
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

/** Polls `done()` every few ms; rejects when it stays false for {@link STALL_MS}. */
async function until(done: () => Promise<boolean>, what: string): Promise<void> {
  const start = performance.now();
  while (!(await done())) {
    if (performance.now() - start > STALL_MS) throw new Error(`round-trips: ${what} not reached in ${STALL_MS} ms`);
    await sleep(5);
  }
}

interface Figures {
  runsPerSec: number;
  statements: number;
  commands: number;
  redisRoundTrips: number;
  rawJobsPerSec: number;
  rawCommands: number;
  /** CPU ms per run: this process, the PostgreSQL server, the Redis server (`NaN` when unknown). */
  nodeCpuMs: number;
  postgresCpuMs: number;
  redisCpuMs: number;
  /** CPU ms per raw BullMQ job: this process and the Redis server. */
  rawNodeCpuMs: number;
  rawRedisCpuMs: number;
}

export async function roundTrips(config: BenchConfig): Promise<ScenarioOutput> {
  const workerCounts = config.mode === 'smoke' ? [1] : [1, 2];
  const n = config.count(1_000, 20);
  const redisUrl = process.env.SPROUT_REDIS_URL || DEFAULT_REDIS_URL;
  const postgresUrl = process.env.SPROUT_POSTGRES_URL || DEFAULT_POSTGRES_URL;
  const prefix = `sprout_rt_${process.pid}_${randomBytes(4).toString('hex')}`;
  const rawPrefix = `${prefix}_raw`;
  const warmup = config.mode === 'smoke' ? 0 : 1;
  const metrics: Metric[] = [];
  const notes: string[] = [];
  const names = (w: number) => ({
    statements: `PostgreSQL statements per run, ${plural(w)}`,
    commands: `Redis commands per run, ${plural(w)}`,
    trips: `Redis round trips per run, ${plural(w)}`,
    sprout: `Sprout distributed runs/s, ${plural(w)} in process`,
    raw: `raw BullMQ jobs/s, ${plural(w)} in process`,
    ratio: `distributed / raw BullMQ per worker, ${plural(w)} in process`,
    rawCommands: `raw BullMQ Redis commands per job, ${plural(w)}`,
    nodeCpu: `Node CPU per run (front door + workers), ${plural(w)}`,
    postgresCpu: `PostgreSQL backends CPU per run, ${plural(w)}`,
    redisCpu: `Redis server CPU per run, ${plural(w)}`,
    rawNodeCpu: `raw BullMQ Node CPU per job, ${plural(w)}`,
    rawRedisCpu: `raw BullMQ Redis server CPU per job, ${plural(w)}`,
  });
  const skipAll = (reason: string): ScenarioOutput => {
    for (const w of workerCounts)
      for (const metric of Object.values(names(w))) metrics.push({ scenario: SCENARIO, metric, unit: '', samples: [], skipped: reason });
    return { metrics, notes };
  };

  const { default: pg } = await import('pg');
  const { Redis } = await import('ioredis');
  const probePg = new pg.Client({ connectionString: postgresUrl, connectionTimeoutMillis: 3_000 });
  probePg.on('error', () => undefined);
  try {
    await probePg.connect();
  } catch (error) {
    return skipAll(`PostgreSQL unreachable at ${postgresUrl} (set SPROUT_POSTGRES_URL): ${message(error)}`);
  }
  const probe = new Redis(redisUrl, { connectionName: PROBE, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    await probe.connect();
  } catch (error) {
    await probePg.end().catch(() => undefined);
    return skipAll(`Redis unreachable at ${redisUrl} (set SPROUT_REDIS_URL): ${message(error)}`);
  }

  const { createDistributedScheduler, createWorker, RUN_QUEUE_NAME } = await import('../../src/distributed/index.js');
  const { PostgresEventLog } = await import('../../src/adapters/postgres/index.js');
  const { Queue, Worker } = await import('bullmq');
  const redisCounter: CommandCounter = await countRedisCommands(prefix, PROBE);
  const cpu = cpuMeter();
  const perRun = (ms: number | undefined, size: number): number => (ms === undefined ? Number.NaN : ms / size);
  const pools: Pool[] = [];
  const newPool = (): Pool => {
    const pool = new pg.Pool({ connectionString: postgresUrl, max: 10 });
    pool.on('error', () => undefined);
    pools.push(pool);
    return pool;
  };
  const frontPool = newPool();
  const front = createDistributedScheduler({ redis: redisUrl, postgres: { pool: frontPool }, prefix });
  const observer = new PostgresEventLog({ connectionString: postgresUrl, schema: prefix });
  const jobQueue = new Queue(RUN_QUEUE_NAME, { connection: probe, prefix });
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await front.start();
    for (const w of workerCounts) {
      const workerPools = Array.from({ length: w }, newPool);
      const statements = countStatements([frontPool, ...workerPools]);
      const workers = workerPools.map((pool, i) =>
        createWorker({
          redis: redisUrl,
          postgres: { pool },
          prefix,
          agent: noopAgent,
          concurrency: CONCURRENCY,
          perParentConcurrency: 10_000,
          name: `${prefix}-w${w}-${i}`,
        }),
      );
      await Promise.all(workers.map((worker) => worker.start()));
      const stopWorkers = () => Promise.all(workers.map((worker) => worker.stop()));
      stops.push(stopWorkers);

      const rawQueueName = `noop-w${w}`;
      const rawQueue = new Queue(rawQueueName, { connection: { url: redisUrl, maxRetriesPerRequest: null }, prefix: rawPrefix });
      let rawDone = 0;
      const rawWorkers = Array.from({ length: w }, () => {
        const worker = new Worker(rawQueueName, () => Promise.resolve(), {
          connection: { url: redisUrl, maxRetriesPerRequest: null },
          prefix: rawPrefix,
          concurrency: CONCURRENCY,
        });
        worker.on('completed', () => rawDone++);
        worker.on('error', () => undefined);
        return worker;
      });
      await Promise.all(rawWorkers.map((worker) => worker.waitUntilReady()));
      const stopRaw = async () => {
        await Promise.all(rawWorkers.map((worker) => worker.close()));
        await rawQueue.obliterate({ force: true }).catch(() => undefined);
        await rawQueue.close();
      };
      stops.push(stopRaw);

      let completedBefore = 0;
      const sproutRun = async (size: number, label: string) => {
        const rootId = `rt_w${w}_${label}`;
        const ids = Array.from({ length: size }, (_, i) => `${rootId}_c${i}`);
        await front.store.save(rootSession(rootId));
        for (let i = 0; i < size; i += 100)
          await Promise.all(ids.slice(i, i + 100).map((id) => front.store.save(childSession(id, rootId))));
        const counter = countCompletions(observer.live(rootId, { afterSeq: 0 }));
        try {
          statements.reset();
          redisCounter.reset();
          cpu.reset();
          const begin = performance.now();
          for (let i = 0; i < size; i += 500) {
            await Promise.all(
              ids.slice(i, i + 500).map((id) => front.enqueue({ parentSessionId: rootId, childSessionId: id, model: 'bench-model' })),
            );
          }
          await counter.until(size, STALL_MS);
          const target = completedBefore + size;
          await until(async () => (await jobQueue.getCompletedCount()) >= target, `${size} completed jobs`);
          const ms = performance.now() - begin;
          const used = cpu.read();
          completedBefore = target;
          if (counter.problems()) throw new Error(`round-trips: runs that did not complete: ${counter.problems()}`);
          return {
            runsPerSec: size / (ms / 1000),
            statements: statements.total / size,
            commands: redisCounter.total / size,
            redisRoundTrips: (redisCounter.total - redisCounter.commandsInPipelines + redisCounter.pipelines) / size,
            nodeCpuMs: used.node / size,
            postgresCpuMs: perRun(used.postgres, size),
            redisCpuMs: perRun(used.redis, size),
            pgKinds: statements.byKind(),
            redisKinds: redisCounter.byKind(),
          };
        } finally {
          counter.unsubscribe();
        }
      };
      const rawRun = async (size: number) => {
        const target = rawDone + size;
        redisCounter.reset();
        cpu.reset();
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
        await until(() => Promise.resolve(rawDone >= target), `${size} raw jobs`);
        const ms = performance.now() - begin;
        const used = cpu.read();
        return {
          jobsPerSec: size / (ms / 1000),
          commands: redisCounter.total / size,
          nodeCpuMs: used.node / size,
          redisCpuMs: perRun(used.redis, size),
        };
      };

      let last: Awaited<ReturnType<typeof sproutRun>> | undefined;
      const runs = await sample<Figures>(config.runs, warmup, async (run) => {
        const size = run < 0 ? Math.min(n, 100) : n;
        const label = run < 0 ? `warmup${-run}` : `run${run + 1}`;
        const raw = await rawRun(size);
        const sprout = await sproutRun(size, label);
        last = sprout;
        if (run >= 0)
          config.log(
            `round-trips ${label}, ${plural(w)}: ${sprout.statements.toFixed(1)} statements/run, ${sprout.commands.toFixed(1)} Redis commands/run, Sprout ${sprout.runsPerSec.toFixed(0)} runs/s, raw BullMQ ${raw.jobsPerSec.toFixed(0)} jobs/s; CPU ms/run Node ${sprout.nodeCpuMs.toFixed(2)}, PostgreSQL ${sprout.postgresCpuMs.toFixed(2)}, Redis ${sprout.redisCpuMs.toFixed(2)} (raw BullMQ per job: Node ${raw.nodeCpuMs.toFixed(2)}, Redis ${raw.redisCpuMs.toFixed(2)})`,
          );
        return {
          ...sprout,
          rawJobsPerSec: raw.jobsPerSec,
          rawCommands: raw.commands,
          rawNodeCpuMs: raw.nodeCpuMs,
          rawRedisCpuMs: raw.redisCpuMs,
        };
      });
      const m = names(w);
      metrics.push(
        { scenario: SCENARIO, metric: m.statements, unit: 'statements', samples: runs.map((r) => r.statements), target: STATEMENTS_TARGET },
        { scenario: SCENARIO, metric: m.commands, unit: 'commands', samples: runs.map((r) => r.commands), target: COMMANDS_TARGET },
        { scenario: SCENARIO, metric: m.trips, unit: 'round trips', samples: runs.map((r) => r.redisRoundTrips) },
        { scenario: SCENARIO, metric: m.sprout, unit: 'runs/s', samples: runs.map((r) => r.runsPerSec) },
        { scenario: SCENARIO, metric: m.raw, unit: 'jobs/s', samples: runs.map((r) => r.rawJobsPerSec) },
        { scenario: SCENARIO, metric: m.ratio, unit: 'x', samples: runs.map((r) => r.runsPerSec / r.rawJobsPerSec) },
        { scenario: SCENARIO, metric: m.rawCommands, unit: 'commands', samples: runs.map((r) => r.rawCommands) },
      );
      const cpuRows: [string, (r: Figures) => number][] = [
        [m.nodeCpu, (r) => r.nodeCpuMs],
        [m.postgresCpu, (r) => r.postgresCpuMs],
        [m.redisCpu, (r) => r.redisCpuMs],
        [m.rawNodeCpu, (r) => r.rawNodeCpuMs],
        [m.rawRedisCpu, (r) => r.rawRedisCpuMs],
      ];
      for (const [metric, of] of cpuRows) {
        const samples = runs.map(of);
        metrics.push(
          samples.every((value) => Number.isFinite(value))
            ? { scenario: SCENARIO, metric, unit: 'ms', samples }
            : { scenario: SCENARIO, metric, unit: 'ms', samples: [], skipped: 'no /proc to read the servers’ CPU from' },
        );
      }
      if (last) {
        notes.push(`${plural(w)}, PostgreSQL statements per run by kind (last run): ${topKinds(last.pgKinds, n)}`);
        notes.push(`${plural(w)}, Redis commands per run by kind (last run): ${topKinds(last.redisKinds, n)}`);
      }
      await stopWorkers();
      await stopRaw();
      stops.length = 0;
    }
    notes.push(
      `${n} runs per figure (warm-up ${warmup ? '≤ 100 first' : 'none'}), concurrency ${CONCURRENCY} per worker on both sides, all in this process; counted from the first enqueue to the last completed BullMQ job; prefix ${prefix}`,
    );
    return { metrics, notes };
  } finally {
    for (const stop of stops) await stop().catch((error: unknown) => config.log(`round-trips: stop: ${message(error)}`));
    await front.stop().catch(() => undefined);
    await observer.close().catch(() => undefined);
    await jobQueue.close().catch(() => undefined);
    redisCounter.restore();
    for (const pool of pools) await pool.end().catch(() => undefined);
    const deleted = (await deletePrefix(probe, prefix).catch(() => 0)) + (await deletePrefix(probe, rawPrefix).catch(() => 0));
    if (deleted > 0) config.log(`round-trips: deleted ${deleted} key(s) under ${prefix}:* and ${rawPrefix}:*`);
    await probePg
      .query(`DROP SCHEMA IF EXISTS "${prefix}" CASCADE`)
      .catch((error: unknown) => config.log(`round-trips: ${message(error)}`));
    await probePg.end().catch(() => undefined);
    probe.disconnect();
  }
}
