// Redis restarted WITH the persistence the distributed guide asks for (AOF, `appendfsync
// everysec`): a private `redis-server` of this test (its own port and directory) is stopped and
// started again while runs are in flight on two workers and children wait in the queue. Nothing is
// lost: every child runs exactly once and completes, one start and one completion per run on each
// parent's stream, the stored status agrees, no run is left open and the per-parent limit holds.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { POSTGRES_URL, completionsOf, createTestDeployment, openRunIds, servicesUnavailable, streamProblems, until } from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();
const redisServer = await new Promise<string | undefined>((resolve) => {
  const probe = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  probe.on('error', () => resolve('no redis-server binary on PATH'));
  probe.on('exit', (code) => resolve(code === 0 ? undefined : 'redis-server --version failed'));
});

/** This test's Redis servers: stopped after everything using them (hooks run last-registered first). */
const servers: PrivateRedis[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.dispose();
});
const opened = trackOpened();

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** A `redis-server` of this test only, with AOF on, in its own directory; restartable on the same port and data. */
class PrivateRedis {
  readonly dir = mkdtempSync(join(tmpdir(), 'sprout-aof-'));
  #child: ChildProcess | undefined;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'yes'];
    args.push('--appendfsync', 'everysec', '--daemonize', 'no', '--protected-mode', 'no', '--loglevel', 'warning');
    this.#child = spawn('redis-server', args, { stdio: 'ignore' });
    const client = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    client.on('error', () => undefined);
    try {
      await until(async () => {
        try {
          if (client.status !== 'ready') await client.connect();
          return (await client.ping()) === 'PONG' && (await client.info('persistence')).includes('loading:0');
        } catch {
          client.disconnect();
          return false;
        }
      }, 50);
    } finally {
      client.disconnect();
    }
  }

  /** Pauses every client's writes (and key expiry) until the server stops (CLIENT PAUSE … WRITE). */
  async pauseWrites(): Promise<void> {
    const client = new Redis(this.url, { maxRetriesPerRequest: 3 });
    client.on('error', () => undefined);
    try {
      await client.call('CLIENT', 'PAUSE', '60000', 'WRITE');
    } finally {
      client.disconnect();
    }
  }

  /** A clean stop (SIGTERM: Redis writes its AOF out and exits), waited for. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe.skipIf(unavailable !== undefined || redisServer !== undefined)('Redis restarted with AOF persistence', () => {
  it('loses nothing: every child runs once and completes, streams and store agree, the limit holds', async () => {
    const redis = new PrivateRedis(await freePort());
    servers.push(redis);
    await redis.start();
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: redis.url, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const probe = createProbe();
    probe.close();
    const workers = ['w1', 'w2'].map((name) =>
      createWorker({
        redis: redis.url,
        postgres: POSTGRES_URL,
        prefix,
        agent: probe.agent(name),
        concurrency: 3,
        perParentConcurrency: 2,
        heartbeatIntervalMs: 200,
        eventRetention: 100_000,
        admissionRetryMs: 300,
        name,
      }),
    );
    opened.workers.push(...workers);
    await Promise.all(workers.map((worker) => worker.start()));

    const parents = ['p1', 'p2'];
    const streams = new Map<string, SessionEventEnvelope[]>();
    for (const parent of parents) await front.store.save(rootSession(parent));
    const children: { parent: string; childSessionId: string }[] = [];
    for (let i = 0; i < 5; i++) {
      for (const parent of parents) {
        const { childSessionId } = await front.spawnChild(parent, { title: `before ${i}`, prompt: 'go' });
        children.push({ parent, childSessionId });
      }
    }
    // Runs in flight (held at the gate) on the workers, the rest queued, when Redis goes away.
    await until(() => probe.running >= 3);
    // Writes paused (expiries too) from the key listing to the stop: the listing is what the AOF holds.
    await redis.pauseWrites();
    const durable = await persistentKeys(redis.url, prefix);
    await redis.stop();
    await redis.start();
    // The queue, the live runs, the slots and the claims' epochs came back from the AOF.
    const back = new Set(await persistentKeys(redis.url, prefix));
    expect(durable.length).toBeGreaterThan(0);
    expect(durable.filter((key) => !back.has(key))).toEqual([]);
    for (let i = 0; i < 2; i++) {
      for (const parent of parents) {
        const { childSessionId } = await retrySpawn(() => front.spawnChild(parent, { title: `after ${i}`, prompt: 'go' }));
        children.push({ parent, childSessionId });
      }
    }
    probe.open();

    const storedStatus = async (id: string): Promise<string | undefined> => (await front.getChild(id))?.status;
    await until(async () => {
      for (const { childSessionId } of children) if ((await storedStatus(childSessionId)) !== 'completed') return false;
      return true;
    }, 100);
    // The completion follows the final save: wait for every child's on its parent's stream.
    await until(async () => {
      for (const parent of parents) streams.set(parent, (await front.eventLog.read(parent, 0)).envelopes);
      return children.every(({ parent, childSessionId }) =>
        completionsOf(streams.get(parent)!).some((event) => event.child_session_id === childSessionId),
      );
    }, 100);

    for (const { parent, childSessionId } of children) {
      const completions = completionsOf(streams.get(parent)!).filter((event) => event.child_session_id === childSessionId);
      expect(
        completions.map((event) => event.status),
        childSessionId,
      ).toEqual(['completed']);
      expect(
        probe.calls.filter((call) => call.sessionId === childSessionId),
        childSessionId,
      ).toHaveLength(1);
    }
    for (const parent of parents) {
      expect(streamProblems(streams.get(parent)!), parent).toEqual([]);
      expect(probe.maxByParent.get(parent) ?? 0, parent).toBeLessThanOrEqual(2);
    }
    // Every run closes (a spawn refused while the front door reconnected may still have queued one).
    await until(async () => (await openRunIds(prefix)).length === 0, 100);
  });

  it('a worker and a front door stop while Redis is away (no hang waiting for a reconnect)', async () => {
    const redis = new PrivateRedis(await freePort());
    servers.push(redis);
    await redis.start();
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: redis.url, postgres: POSTGRES_URL, prefix });
    await front.start();
    const probe = createProbe();
    const worker = createWorker({ redis: redis.url, postgres: POSTGRES_URL, prefix, agent: probe.agent('w'), name: 'w' });
    await worker.start();
    await front.store.save(rootSession('p'));
    const { childSessionId } = await front.spawnChild('p', { title: 'quick', prompt: 'go' });
    await until(async () => (await front.getChild(childSessionId))?.status === 'completed');

    await redis.stop();
    // Stopping while the connections wait to reconnect: both resolve (Redis never comes back here).
    await worker.stop();
    await front.stop();
    expect(probe.calls).toHaveLength(1);
  });
});

/** The deployment's Redis keys that have no expiry (SCAN, never KEYS). */
async function persistentKeys(url: string, prefix: string): Promise<string[]> {
  const client = new Redis(url, { maxRetriesPerRequest: 3 });
  client.on('error', () => undefined);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await client.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      for (const key of found) if ((await client.pttl(key)) === -1) keys.push(key);
    } while (cursor !== '0');
    return keys.sort();
  } finally {
    client.disconnect();
  }
}

/** Spawns again while the front door's Redis connection comes back (a refused call changed nothing). */
async function retrySpawn<T>(spawnOnce: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await spawnOnce();
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
