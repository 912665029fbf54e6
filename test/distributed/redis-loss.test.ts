// Redis restarted without persistence: every queue key of the deployment is gone, while
// PostgreSQL still holds an open run (its worker was killed) and two children queued but never
// started. A worker's reconciler puts their jobs back once, so the open run is ended exactly once
// (and, with recover requeue, its child runs again) and the queued children run.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { requeuedRunId } from '../../src/distributed/keys.js';
import type { CliProcess } from '../cli/cli-process.js';
import { startProbeWorker } from './probe-worker-process.js';
import { rootSession } from '../support/harness.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

const startWorkerProcess = (prefix: string, name: string): Promise<CliProcess> =>
  startProbeWorker(
    prefix,
    name,
    ['--lock-ms', '1000', '--heartbeat-ms', '200', '--recover', 'requeue', '--reconcile-ms', '300'],
    opened.processes,
  );

describe.skipIf(unavailable !== undefined)('Redis loses its data (restart without persistence)', () => {
  it('a worker reconciles the queue with PostgreSQL: the open run ends once, queued children run', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      const victim = await startWorkerProcess(prefix, 'victim');
      await front.store.save(rootSession('p'));
      const hanger = await front.spawnChild('p', { title: 'hang once', prompt: 'wait' });
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 1, 50);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const queued = [
        await front.spawnChild('p', { title: 'queued 1', prompt: 'go' }),
        await front.spawnChild('p', { title: 'queued 2', prompt: 'go' }),
      ];

      // Redis comes back empty: every key of the deployment's queue is gone (the probe's own
      // bookkeeping stays, it is the test's, not Redis's state).
      const lost = (await listRedisKeys(prefix)).filter((key) => !key.startsWith(`${prefix}:probe:`));
      expect(lost.length).toBeGreaterThan(0);
      await redis.del(...lost);
      expect(await openRunIds(prefix)).toEqual([hanger.runId]);

      const survivor = await startWorkerProcess(prefix, 'survivor');
      await until(async () => {
        const completions = completionsOf(await storedEvents(prefix, 'p'));
        const done = new Set(completions.map((c) => c.run_id));
        return [requeuedRunId(hanger.runId), ...queued.map((q) => q.runId)].every((runId) => done.has(runId));
      }, 50);
      await until(async () => (await openRunIds(prefix)).length === 0, 50);

      const stream = await storedEvents(prefix, 'p');
      expect(streamProblems(stream)).toEqual([]);
      const byRun = new Map(completionsOf(stream).map((c) => [c.run_id, c]));
      expect(byRun.get(hanger.runId)).toMatchObject({ status: 'error', reason: 'interrupted' });
      expect(byRun.get(requeuedRunId(hanger.runId))?.status).toBe('completed');
      for (const { runId, childSessionId } of queued) {
        expect(byRun.get(runId)?.status).toBe('completed');
        expect((await front.store.load(childSessionId))?.metadata.last_run_status).toBe('completed');
      }
      expect(completionsOf(stream)).toHaveLength(4);
      expect(survivor.stderr()).toContain('queue reconciled with PostgreSQL');

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
