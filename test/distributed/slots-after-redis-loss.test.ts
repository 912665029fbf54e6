// The per-parent limit after Redis lost its data (found by the chaos check). Run A of a parent
// (limit 1) is open in PostgreSQL (its worker was lost) while child B waits in the queue. Redis
// comes back empty: the parent's slot set (`slots:<parent>`) is gone with everything else. Before,
// the reconciler put back A's job (open run) and B's (pending child) but not A's slot, so B was
// admitted before A was closed (the chaos run's stream showed 3–4 runs open at once with
// `--per-parent 2`). Now no run is admitted until a reconciliation pass gave every open run its
// slot back (the slots-intact mark), and the reconciler does that first. Real Redis,
// PostgreSQL, worker processes; waits on conditions.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/distributed/connections.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME, redisKeys } from '../../src/distributed/keys.js';
import { reconcileQueue } from '../../src/distributed/reconcile-queue.js';
import { RedisScripts } from '../../src/distributed/redis-scripts.js';
import { createWorker } from '../../src/distributed/worker.js';
import { mostOpen } from './chaos-run.js';
import { createProbe } from './probe-agent.js';
import { rootSession } from '../support/harness.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import { startProbeWorker } from './probe-worker-process.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('the per-parent limit when Redis loses its data', () => {
  it('a run open in PostgreSQL still holds its slot after the reconciler put its job back', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const keys = redisKeys(prefix);
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    const queue = new Queue(RUN_QUEUE_NAME, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix });
    queue.on('error', () => undefined);
    const { store, log } = openPostgres(POSTGRES_URL, prefix, 100_000, () => undefined);
    try {
      // A worker (limit 1 per parent) runs A, which hangs, and is killed: A is open in PostgreSQL.
      const victim = await startProbeWorker(prefix, 'victim', ['--lock-ms', '1000', '--per-parent', '1'], opened.processes);
      await front.store.save(rootSession('p'));
      const a = await front.spawnChild('p', { title: 'hang once', prompt: 'wait' });
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 1, 50);
      victim.child.kill('SIGKILL');
      await victim.exited;
      const b = await front.spawnChild('p', { title: 'B', prompt: 'go' });
      expect(await openRunIds(prefix)).toEqual([a.runId]);

      // Redis comes back empty; the reconciler puts both jobs back.
      await redis.del(...(await listRedisKeys(prefix)).filter((key) => !key.startsWith(`${prefix}:probe:`)));
      // A job a worker fetched before the loss asks for a slot: nothing is admitted while the slots
      // are not known to be intact (the mark went with the data), even though the slot set is empty.
      expect(await new RedisScripts(redis, keys).admitRun('p', b.runId, 1, 1000, 6000, 'probe', 60_000)).toBe('rebuilding');
      expect(await redis.exists(keys.slots('p'))).toBe(0);
      const done = await reconcileQueue({
        store,
        log,
        redis,
        queue,
        keys,
        minAgeMs: 0,
        now: () => Date.now(),
        maxDepth: 4,
        onError: () => undefined,
        slotGraceMs: 6000,
        stillOpen: async (runId) => (await log.openRuns()).some((run) => run.runId === runId),
      });
      expect(done).toEqual({ reopened: [a.runId], requeued: [b.runId] });

      // B asks for the parent's only slot while A is still open: it must be refused.
      const admitted = await new RedisScripts(redis, keys).admitRun('p', b.runId, 1, 1000, 6000, 'probe', 60_000);
      expect(admitted).toBe('full');

      // A worker closes A (error/interrupted), which frees the slot; then B runs. Never two at once.
      const rescuer = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: createProbe().agent('rescuer'),
        perParentConcurrency: 1,
        leaseMs: 1000,
        lockDurationMs: 1000,
        stalledIntervalMs: 1000,
        admissionRetryMs: 200,
        eventRetention: 100_000,
      });
      opened.workers.push(rescuer);
      await rescuer.start();
      await until(async () => completionsOf(await storedEvents(prefix, 'p')).length === 2, 50);
      const stream = await storedEvents(prefix, 'p');
      expect(completionsOf(stream).map((c) => [c.run_id, c.status])).toEqual([
        [a.runId, 'error'],
        [b.runId, 'completed'],
      ]);
      expect(mostOpen(stream)).toBe(1);
    } finally {
      redis.disconnect();
      await queue.close();
      await log.close();
      await store.close();
    }
  });
});
