// The workers view's data (issue 22): the front door lists the deployment's live workers and the
// runs each one holds, from Redis (BullMQ's worker connections and the owner keys with their
// TTL), and `GET /v1/workers` answers it; the embedded scheduler answers `available: false`.
// The lease is long enough that a stall of this process on a loaded machine does not lose it: a
// worker that lost its own lease gives its run up and leaves it open, and the waits below would
// never end (with a 3 s lease, one stall of about 2 s was enough).
import { afterEach, describe, expect, it } from 'vitest';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { createWorker, type DistributedWorker } from '../../src/distributed/worker.js';
import type { WorkerInfo } from '../../src/distributed/workers-info.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { rootSession } from '../support/harness.js';
import { startTestServer, type TestServer } from '../server/support/test-server.js';
import { createProbe } from './probe-agent.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, until } from './support.js';

const unavailable = await servicesUnavailable();
// Below the 30 s default (so `lease_ms_left` shows the option is used); renewed every third of it,
// so only a stall of this process of over 13 s loses it.
const LEASE_MS = 20_000;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

describe('GET /v1/workers on the embedded scheduler', () => {
  it('answers available: false', async () => {
    const server: TestServer = await startTestServer();
    cleanups.push(() => server.close('cancel'));
    const response = await fetch(`${server.url}/v1/workers`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ available: false });
  });
});

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('workers() of the front door', () => {
  /** Runs whose lease the worker lost: such a run is given up and stays open, so a wait on it fails now instead of hanging. */
  let leaseLost: string[] = [];
  const held = (predicate: () => Promise<boolean>) => async (): Promise<boolean> => {
    if (leaseLost.length > 0) throw new Error(`the worker lost its lease of run ${leaseLost.join(', ')} (this process stalled past it)`);
    return predicate();
  };

  async function start(): Promise<{ front: DistributedScheduler; worker: DistributedWorker }> {
    leaseLost = [];
    const deployment = createTestDeployment();
    cleanups.push(() => deployment.cleanup());
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix: deployment.prefix });
    cleanups.push(() => front.stop());
    await front.start();
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix: deployment.prefix,
      agent: createProbe().agent('w1'),
      name: 'w1',
      leaseMs: LEASE_MS,
      onDiagnostic: (diagnostic: DistributedDiagnostic) => {
        if (diagnostic.kind === 'lease_lost' && diagnostic.what === 'owner') leaseLost.push(diagnostic.runId);
      },
    });
    cleanups.push(() => worker.stop({ mode: 'cancel' }));
    await worker.start();
    return { front, worker };
  }

  it('lists the worker and the run it holds, with its epoch and the lease time left; then the run is gone', async () => {
    const { front } = await start();
    const idle = (await front.workers()).workers;
    expect(idle.map(({ name, runs }) => ({ name, runs }))).toEqual([{ name: 'w1', runs: [] }]);
    expect(typeof idle[0]!.address).toBe('string');
    expect(idle[0]!.age_ms).toBeGreaterThanOrEqual(0);

    await front.store.save(rootSession('root'));
    const { childSessionId, runId } = await front.spawnChild('root', { title: 'hang on', prompt: 'wait for the cancel' });
    await until(held(async () => (await front.workers()).workers[0]?.runs.length === 1));
    const { workers, truncated } = await front.workers();
    expect(truncated).toBe(false);
    expect(workers).toHaveLength(1);
    const [run] = workers[0]!.runs;
    expect(run!.run_id).toBe(runId);
    expect(run!.epoch).toBeGreaterThan(0);
    expect(run!.lease_ms_left).toBeGreaterThan(0);
    expect(run!.lease_ms_left).toBeLessThanOrEqual(LEASE_MS);

    await front.cancel(childSessionId);
    await front.waitForChildren('root', { childSessionIds: [childSessionId] });
    await until(held(async () => (await front.workers()).workers[0]?.runs.length === 0));
  });

  it('GET /v1/workers answers the front door’s workers', async () => {
    const { front } = await start();
    await front.store.save(rootSession('root'));
    const { runId } = await front.spawnChild('root', { title: 'hang on', prompt: 'wait' });
    const server = createSproutServer({ scheduler: front, store: front.store });
    const read = async (): Promise<unknown> => (await server.fetch(new Request('http://127.0.0.1/v1/workers'))).json();
    await until(held(async () => JSON.stringify(await read()).includes(runId)));
    const answer = (await read()) as { available: boolean; truncated: boolean; workers: WorkerInfo[] };
    expect(answer).toMatchObject({ available: true, truncated: false });
    expect(answer.workers.map(({ name, runs }) => ({ name, runs: runs.map((r) => r.run_id) }))).toEqual([{ name: 'w1', runs: [runId] }]);
    expect(answer.workers[0]!.runs[0]!.lease_ms_left).toBeGreaterThan(0);
  });
});
