// Redis or PostgreSQL going away and coming back, for a worker or the front door, through a TCP
// proxy in front of the real service: typed errors, reconnection, no crash, and afterwards every
// run still has exactly one start and one completion.
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDistributedScheduler,
  type DistributedScheduler,
  type DistributedSchedulerOptions,
} from '../../src/distributed/distributed-scheduler.js';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { QueueUnavailableError } from '../../src/distributed/errors.js';
import { StoreUnavailableError } from '../../src/errors.js';
import { createWorker, type DistributedWorker, type DistributedWorkerOptions } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  TcpProxy,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
  type TestDeployment,
} from './support.js';

const unavailable = await servicesUnavailable();

const opened: { deployments: TestDeployment[]; fronts: DistributedScheduler[]; workers: DistributedWorker[]; proxies: TcpProxy[] } = {
  deployments: [],
  fronts: [],
  workers: [],
  proxies: [],
};

afterEach(async () => {
  for (const proxy of opened.proxies) proxy.restore();
  for (const worker of opened.workers.splice(0)) await worker.stop({ mode: 'cancel' });
  for (const front of opened.fronts.splice(0)) await front.stop();
  for (const proxy of opened.proxies.splice(0)) await proxy.close();
  for (const deployment of opened.deployments.splice(0)) await deployment.cleanup();
});

function deployment(): string {
  const made = createTestDeployment();
  opened.deployments.push(made);
  return made.prefix;
}

async function proxy(target: string): Promise<{ proxy: TcpProxy; url: string }> {
  const made = new TcpProxy(target);
  opened.proxies.push(made);
  return { proxy: made, url: await made.listen(target) };
}

async function frontDoor(prefix: string, extra: Partial<DistributedSchedulerOptions> = {}): Promise<DistributedScheduler> {
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000, ...extra });
  opened.fronts.push(front);
  await front.start();
  return front;
}

function worker(options: Pick<DistributedWorkerOptions, 'agent' | 'prefix'> & Partial<DistributedWorkerOptions>): DistributedWorker {
  const made = createWorker({
    redis: REDIS_URL,
    postgres: POSTGRES_URL,
    concurrency: 4,
    eventRetention: 100_000,
    heartbeatIntervalMs: 100,
    ...options,
  });
  opened.workers.push(made);
  return made;
}

async function expectAllEndedOnce(prefix: string, parent: string, count: number): Promise<void> {
  await until(async () => (await listRedisKeys(`${prefix}:sprout:live`)).length === 0 && (await openRunIds(prefix)).length === 0, 100);
  const stored = await storedEvents(prefix, parent);
  expect(streamProblems(stored)).toEqual([]);
  expect(completionsOf(stored).length).toBeGreaterThanOrEqual(count);
}

describe.skipIf(unavailable !== undefined)('distributed mode when Redis or PostgreSQL goes away', () => {
  it('start() fails at once with a typed error when Redis or PostgreSQL is not there', async () => {
    const prefix = deployment();
    const { proxy: redisProxy, url: redisUrl } = await proxy(REDIS_URL);
    const { proxy: pgProxy, url: pgUrl } = await proxy(POSTGRES_URL);
    redisProxy.cut();
    pgProxy.cut();
    const probe = createProbe();
    const noPostgres = createDistributedScheduler({ redis: REDIS_URL, postgres: pgUrl, prefix });
    await expect(noPostgres.start()).rejects.toBeInstanceOf(StoreUnavailableError);
    await noPostgres.stop();
    const noRedis = createDistributedScheduler({ redis: redisUrl, postgres: POSTGRES_URL, prefix });
    await expect(noRedis.start()).rejects.toThrow(/^Redis: connecting to 127\.0\.0\.1:\d+ failed: /);
    await expect(noRedis.start()).rejects.toBeInstanceOf(QueueUnavailableError);
    await noRedis.stop();
    const workerWithoutRedis = worker({ prefix, redis: redisUrl, agent: probe.agent('w') });
    await expect(workerWithoutRedis.start()).rejects.toBeInstanceOf(QueueUnavailableError);
    const workerWithoutPostgres = worker({ prefix, postgres: pgUrl, agent: probe.agent('w') });
    await expect(workerWithoutPostgres.start()).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('a worker cut off from Redis reports it, reconnects, and its runs end once', async () => {
    const prefix = deployment();
    const front = await frontDoor(prefix);
    const { proxy: redisProxy, url } = await proxy(REDIS_URL);
    const probe = createProbe();
    probe.close();
    const diagnostics: DistributedDiagnostic[] = [];
    const w = worker({ prefix, redis: url, agent: probe.agent('w'), onDiagnostic: (d) => diagnostics.push(d) });
    await w.start();
    await front.store.save(rootSession('root'));
    const spawned = [];
    for (let i = 1; i <= 6; i++) spawned.push(await front.spawnChild('root', { title: `child ${i}`, prompt: 'go' }));
    await until(() => probe.running === 4);

    redisProxy.cut();
    await until(() => diagnostics.some((d) => d.kind === 'service_error'));
    // The agents finish while Redis is away (their completions go to PostgreSQL); the worker's
    // Redis bookkeeping waits for the connection to come back.
    probe.open();
    await until(() => probe.running === 0);
    redisProxy.restore();

    const ends = await front.waitForChildren('root', { childSessionIds: spawned.map((s) => s.childSessionId) });
    expect(ends.map((e) => e.status)).toEqual(Array(6).fill('completed'));
    await expectAllEndedOnce(prefix, 'root', 6);
  });

  it('the front door answers QueueUnavailableError while Redis is away, and works again once it is back', async () => {
    const prefix = deployment();
    const { proxy: redisProxy, url } = await proxy(REDIS_URL);
    const diagnostics: DistributedDiagnostic[] = [];
    const front = await frontDoor(prefix, { redis: url, onDiagnostic: (d) => diagnostics.push(d) });
    await front.store.save(rootSession('root'));
    const probe = createProbe();
    await worker({ prefix, agent: probe.agent('w') }).start();

    redisProxy.cut();
    await expect(front.spawnChild('root', { title: 'lost', prompt: 'go' })).rejects.toBeInstanceOf(QueueUnavailableError);
    await expect(front.cancel('anything')).rejects.toBeInstanceOf(QueueUnavailableError);
    // The child whose run could not be queued is not left behind.
    expect(await front.store.listChildren('root')).toEqual([]);
    expect(diagnostics.some((d) => d.kind === 'service_error')).toBe(true);

    redisProxy.restore();
    let spawned: { childSessionId: string; runId: string } | undefined;
    await until(async () => {
      spawned = await front.spawnChild('root', { title: 'back', prompt: 'go' }).catch(() => undefined);
      return spawned !== undefined;
    }, 100);
    const [end] = await front.waitForChildren('root', { childSessionIds: [spawned!.childSessionId] });
    expect(end?.status).toBe('completed');
    await expectAllEndedOnce(prefix, 'root', 1);
  });

  it('a worker cut off from PostgreSQL mid-run reports it, and every run ends exactly once when it is back (recover requeue)', async () => {
    const prefix = deployment();
    const front = await frontDoor(prefix);
    const { proxy: pgProxy, url } = await proxy(POSTGRES_URL);
    const probe = createProbe();
    probe.close();
    const diagnostics: DistributedDiagnostic[] = [];
    const w = worker({
      prefix,
      postgres: url,
      agent: probe.agent('w'),
      recover: 'requeue',
      onDiagnostic: (d) => diagnostics.push(d),
    });
    await w.start();
    await front.store.save(rootSession('root'));
    const spawned = [];
    for (let i = 1; i <= 6; i++) spawned.push(await front.spawnChild('root', { title: `child ${i}`, prompt: 'go' }));
    await until(() => probe.running === 4);

    pgProxy.cut();
    // The running agents finish while PostgreSQL is away: their events, final saves and completions cannot be written.
    probe.open();
    await until(() => probe.running === 0);
    await until(() => diagnostics.some((d) => d.kind === 'run_deferred'));
    pgProxy.restore();

    await expectAllEndedOnce(prefix, 'root', 6);
    for (const { childSessionId } of spawned) {
      const child = await front.store.load(childSessionId);
      expect(['completed', 'error']).toContain(child?.metadata.last_run_status);
    }
    // With requeue, the runs cut off before they could record their end ran again and completed.
    const stored = await storedEvents(prefix, 'root');
    const interrupted = completionsOf(stored).filter((c) => c.reason === 'interrupted');
    expect(interrupted.length).toBeGreaterThan(0);
  });
});
