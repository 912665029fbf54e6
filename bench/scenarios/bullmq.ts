/**
 * bullmq: the same no-op jobs through BullMQ on a local Redis, against Sprout in process.
 * Target: Sprout ≥ 10 × BullMQ; both figures reported.
 *
 * Needs the `redis-server` binary (Debian's `redis-server` package) and the `bullmq` package;
 * neither is a dependency of Sprout, so the row is skipped with a message when either is missing.
 * The script starts its own Redis on a free loopback port from 6390 (no persistence) and stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { sample } from '../lib/stats.js';
import { nextTurn } from '../lib/fixtures.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { sproutLifecycle } from './lifecycle.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import { MemorySessionStore } from '../../src/stores/memory-session-store.js';

/** The part of BullMQ's API this scenario uses. */
interface BullMq {
  Queue: new (
    name: string,
    options: { connection: RedisConnection },
  ) => {
    addBulk(jobs: { name: string; data: unknown; opts?: Record<string, unknown> }[]): Promise<unknown>;
    obliterate(options: { force: boolean }): Promise<void>;
    close(): Promise<void>;
  };
  Worker: new (
    name: string,
    processor: () => Promise<void>,
    options: { connection: RedisConnection; concurrency: number },
  ) => {
    on(event: 'completed' | 'failed', listener: () => void): void;
    waitUntilReady(): Promise<unknown>;
    close(): Promise<void>;
  };
}
interface RedisConnection {
  host: string;
  port: number;
  maxRetriesPerRequest: null;
}

const CONCURRENCY = 64;

/** An agent that does nothing: the "no-op job" on Sprout's side. */
const noopAgent: AgentRuntime = {
  execute(session) {
    session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'ok', created_at: session.created_at });
    return Promise.resolve();
  },
};

export function onPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

const portOpen = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/** Starts `redis-server` on the first free port from 6390; resolves once it accepts connections. */
export async function startRedis(binary: string, dir: string): Promise<{ child: ChildProcess; port: number }> {
  let port = 6390;
  while (await portOpen(port)) if (++port > 6399) throw new Error('no free loopback port in 6390–6399 for redis-server');
  const child = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!(await portOpen(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode}`);
    if (Date.now() > deadline) {
      child.kill('SIGTERM');
      throw new Error('redis-server did not accept connections within 10 s');
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { child, port };
}

export async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
}

/** N no-op jobs through BullMQ: `addBulk`, one worker with concurrency 64; jobs/s to the last completion. */
async function bullmqRun(bull: BullMq, connection: RedisConnection, n: number, run: number): Promise<number> {
  const name = `sprout-bench-${process.pid}-${run}`;
  const queue = new bull.Queue(name, { connection });
  const worker = new bull.Worker(name, () => Promise.resolve(), { connection, concurrency: CONCURRENCY });
  let done = 0;
  worker.on('completed', () => (done += 1));
  worker.on('failed', () => (done += 1));
  try {
    await worker.waitUntilReady();
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
    return n / ((performance.now() - start) / 1000);
  } finally {
    await worker.close();
    await queue.obliterate({ force: true });
    await queue.close();
  }
}

export async function bullmq(config: BenchConfig): Promise<ScenarioOutput> {
  const skip = (reason: string): ScenarioOutput => ({
    metrics: [
      {
        scenario: 'bullmq',
        metric: 'Sprout / BullMQ, no-op jobs',
        unit: 'x',
        samples: [],
        target: { op: '>=', value: 10 },
        skipped: reason,
      } satisfies Metric,
    ],
    notes: [],
  });
  let bull: BullMq;
  try {
    const moduleName = 'bullmq'; // not a dependency: resolved at run time only
    bull = (await import(moduleName)) as BullMq;
  } catch {
    return skip('bullmq not installed');
  }
  const redisBinary = onPath('redis-server');
  if (!redisBinary) return skip('redis-server not installed (apt-get install redis-server)');

  const n = config.count(10_000, 100);
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-redis-'));
  const redis = await startRedis(redisBinary, dir);
  try {
    const connection: RedisConnection = { host: '127.0.0.1', port: redis.port, maxRetriesPerRequest: null };
    const runs = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
      const size = run < 0 ? Math.min(n, 1_000) : n;
      const bullPerSec = await bullmqRun(bull, connection, size, run + 1);
      const sprout = await sproutLifecycle(new MemorySessionStore(), size, { agent: noopAgent });
      if (run >= 0)
        config.log(`bullmq run ${run + 1}: BullMQ ${bullPerSec.toFixed(0)} jobs/s, Sprout ${sprout.jobsPerSec.toFixed(0)} jobs/s`);
      return { bull: bullPerSec, sprout: sprout.jobsPerSec };
    });
    return {
      metrics: [
        { scenario: 'bullmq', metric: 'BullMQ no-op jobs/s (local Redis)', unit: 'jobs/s', samples: runs.map((r) => r.bull) },
        { scenario: 'bullmq', metric: 'Sprout no-op jobs/s (in process)', unit: 'jobs/s', samples: runs.map((r) => r.sprout) },
        {
          scenario: 'bullmq',
          metric: 'Sprout / BullMQ, no-op jobs',
          unit: 'x',
          samples: runs.map((r) => r.sprout / r.bull),
          target: { op: '>=', value: 10 },
        },
      ],
      notes: [
        `${n} no-op jobs per run, concurrency ${CONCURRENCY}; Redis ${redisBinary} on 127.0.0.1:${redis.port}, no persistence; Sprout on a memory store`,
      ],
    };
  } finally {
    await stopRedis(redis.child);
    rmSync(dir, { recursive: true, force: true });
  }
}
