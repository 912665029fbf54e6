/**
 * bullmq: the same no-op jobs through BullMQ (add + process) on the project's Redis, against
 * Sprout in process, both at concurrency 16.
 * Targets: Sprout / BullMQ ≥ 1.0 × in the same run; both jobs/s figures reported (info).
 *
 * Redis: `redis://127.0.0.1:6379`, or `SPROUT_REDIS_URL`. The Redis is shared, so every run uses
 * BullMQ's `prefix` option with a prefix of its own (`sprout-bench-<pid>-<random>`) and, when it
 * is done, obliterates its queue and deletes whatever is left under `<prefix>:*` (SCAN + DEL;
 * never FLUSHDB). When Redis is unreachable, or `bullmq` / `ioredis` (dev dependencies) cannot be
 * loaded, the rows are skipped with a message instead of failing the run (smoke mode included).
 */
import { randomBytes } from 'node:crypto';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { nextTurn } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { sproutLifecycle } from './lifecycle.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

/** The parts of `bullmq` and `ioredis` this scenario uses (both loaded at run time, so a missing one skips the rows). */
interface BullMq {
  Queue: typeof Queue;
  Worker: typeof Worker;
}
interface IoRedis {
  Redis: typeof Redis;
}

/** Concurrency of both sides (BullMQ worker concurrency, Sprout `concurrency`). */
const CONCURRENCY = 16;
const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
const RATIO_METRIC = `Sprout / BullMQ, no-op jobs, concurrency ${CONCURRENCY}`;
const RATIO_TARGET = { op: '>=', value: 1 } as const;

/** An agent that does nothing: the "no-op job" on Sprout's side. */
const noopAgent: AgentRuntime = {
  execute(session) {
    session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'ok', created_at: session.created_at });
    return Promise.resolve();
  },
};

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

/** A connected client, or why there is none (connection refused, timeout, bad URL). */
async function connectRedis(io: IoRedis, url: string): Promise<Redis | string> {
  let lastError = '';
  const client = new io.Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Without a listener, ioredis reports connection errors as unhandled 'error' events.
  client.on('error', (error: Error) => (lastError = error.message));
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.disconnect();
    return lastError || (error instanceof Error ? error.message : String(error));
  }
}

/** Deletes every key under `<prefix>:*` (SCAN + DEL in batches); returns how many it deleted. */
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

/** N no-op jobs through BullMQ: `addBulk` in chunks of 1,000, one worker; jobs/s from the first add to the last completion. */
async function bullmqRun(bull: BullMq, url: string, prefix: string, n: number, run: number): Promise<number> {
  const name = `noop-${run < 0 ? `warmup${-run}` : run + 1}`;
  const connection = { url, maxRetriesPerRequest: null };
  const queue = new bull.Queue(name, { connection, prefix });
  const worker = new bull.Worker(name, () => Promise.resolve(), { connection, prefix, concurrency: CONCURRENCY });
  let done = 0;
  let failed = 0;
  worker.on('completed', () => (done += 1));
  worker.on('failed', () => {
    done += 1;
    failed += 1;
  });
  worker.on('error', () => undefined);
  queue.on('error', () => undefined);
  try {
    await worker.waitUntilReady();
    await queue.waitUntilReady();
    const start = performance.now();
    for (let i = 0; i < n; i += 1_000) {
      const size = Math.min(1_000, n - i);
      await queue.addBulk(
        Array.from({ length: size }, (_, k) => ({
          name: 'noop',
          data: { i: i + k },
          opts: { removeOnComplete: true, removeOnFail: true },
        })),
      );
    }
    while (done < n) await nextTurn();
    const ms = performance.now() - start;
    if (failed > 0) throw new Error(`${failed} of ${n} BullMQ no-op jobs failed`);
    return n / (ms / 1000);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

export async function bullmq(config: BenchConfig): Promise<ScenarioOutput> {
  const skip = (reason: string): ScenarioOutput => ({
    metrics: [
      { scenario: 'bullmq', metric: 'BullMQ no-op jobs/s', unit: 'jobs/s', samples: [], skipped: reason },
      { scenario: 'bullmq', metric: 'Sprout no-op jobs/s (in process)', unit: 'jobs/s', samples: [], skipped: reason },
      { scenario: 'bullmq', metric: RATIO_METRIC, unit: 'x', samples: [], target: RATIO_TARGET, skipped: reason } satisfies Metric,
    ],
    notes: [],
  });
  let bull: BullMq;
  let io: IoRedis;
  try {
    const { Queue, Worker } = await import('bullmq');
    const { Redis } = await import('ioredis');
    bull = { Queue, Worker };
    io = { Redis };
  } catch (error) {
    return skip(`bullmq / ioredis not loadable (npm ci): ${error instanceof Error ? error.message : String(error)}`);
  }
  const url = process.env.SPROUT_REDIS_URL || DEFAULT_REDIS_URL;
  const client = await connectRedis(io, url);
  if (typeof client === 'string') return skip(`Redis unreachable at ${shownUrl(url)} (set SPROUT_REDIS_URL): ${client}`);

  const prefix = `sprout-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
  const n = config.count(10_000, 100);
  try {
    const runs = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
      const size = run < 0 ? Math.min(n, 1_000) : n;
      // Alternate the order so neither side always runs on a warmer heap.
      const bullFirst = run % 2 === 0;
      const sproutRun = () => sproutLifecycle(new MemorySessionStore(), size, { agent: noopAgent, concurrency: CONCURRENCY });
      let bullPerSec: number;
      let sprout: Awaited<ReturnType<typeof sproutRun>>;
      if (bullFirst) {
        bullPerSec = await bullmqRun(bull, url, prefix, size, run);
        sprout = await sproutRun();
      } else {
        sprout = await sproutRun();
        bullPerSec = await bullmqRun(bull, url, prefix, size, run);
      }
      if (run >= 0)
        config.log(`bullmq run ${run + 1}: BullMQ ${bullPerSec.toFixed(0)} jobs/s, Sprout ${sprout.jobsPerSec.toFixed(0)} jobs/s`);
      return { bull: bullPerSec, sprout: sprout.jobsPerSec };
    });
    return {
      metrics: [
        { scenario: 'bullmq', metric: 'BullMQ no-op jobs/s', unit: 'jobs/s', samples: runs.map((r) => r.bull) },
        { scenario: 'bullmq', metric: 'Sprout no-op jobs/s (in process)', unit: 'jobs/s', samples: runs.map((r) => r.sprout) },
        { scenario: 'bullmq', metric: RATIO_METRIC, unit: 'x', samples: runs.map((r) => r.sprout / r.bull), target: RATIO_TARGET },
      ],
      notes: [
        `${n} no-op jobs per run, concurrency ${CONCURRENCY} on both sides; BullMQ: addBulk in chunks of 1,000 + one worker, Redis ${shownUrl(url)} (SPROUT_REDIS_URL), key prefix ${prefix}; Sprout: memory store, awaited enqueue`,
      ],
    };
  } finally {
    try {
      const leftover = await deletePrefix(client, prefix);
      if (leftover > 0) config.log(`bullmq: deleted ${leftover} leftover key(s) under ${prefix}:*`);
    } finally {
      await client.quit().catch(() => client.disconnect());
    }
  }
}
