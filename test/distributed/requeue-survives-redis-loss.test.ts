// With `recover: 'requeue'`, a lost run is ended `error/interrupted` and its child is queued again
// under the derived run id (found by the chaos check). Before, the requeue lived only in Redis
// (live key + BullMQ job): when Redis then lost its data before the derived run started, the
// reconciler (which puts back open runs and children stored `pending`) found nothing, and the
// child never ran again. Now the child is first saved `pending` under the derived run id, fenced
// by the closer's claim, so the reconciler puts it back. Real Redis, PostgreSQL, worker processes.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/distributed/connections.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME, redisKeys, requeuedRunId } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { reconcileQueue } from '../../src/distributed/reconcile-queue.js';
import { createWorker, type DistributedWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import { createProbe } from './probe-agent.js';
import { startProbeWorker } from './probe-worker-process.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  servicesUnavailable,
  storedEvents,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a requeued run, then Redis loses its data', () => {
  it('the reconciler puts the requeued run back (the child runs again)', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    const queue = new Queue(RUN_QUEUE_NAME, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix });
    queue.on('error', () => undefined);
    const { store, log } = openPostgres(POSTGRES_URL, prefix, 100_000, () => undefined);
    try {
      // A worker process takes a child that hangs, and is killed: its run is open in PostgreSQL.
      const victim = await startProbeWorker(prefix, 'victim', ['--lock-ms', '1000', '--heartbeat-ms', '200'], opened.processes);
      await front.store.save(rootSession('p'));
      const { runId, childSessionId } = await front.spawnChild('p', { title: 'hang once', prompt: 'wait' });
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 1, 50);
      victim.child.kill('SIGKILL');
      await victim.exited;

      // A worker ends the lost run and requeues the child, and stops taking jobs right then
      // (concurrency 1: the requeued job cannot have been taken by it yet).
      const rescuer: DistributedWorker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: createProbe().agent('rescuer'),
        recover: 'requeue',
        concurrency: 1,
        leaseMs: 1000,
        lockDurationMs: 1000,
        stalledIntervalMs: 1000,
        eventRetention: 100_000,
        onDiagnostic: (d) => {
          if (d.kind === 'run_recovered') void rescuer.bullWorker?.pause(true);
        },
      });
      opened.workers.push(rescuer);
      await rescuer.start();
      await until(async () => completionsOf(await storedEvents(prefix, 'p')).some((c) => c.run_id === runId), 50);
      await rescuer.stop();
      const next = requeuedRunId(runId);
      expect(await (await queue.getJob(next))?.getState()).toBe('waiting');
      // The lost run's end is on the stream; the store plans the run again (durable, like a spawn).
      expect(completionsOf(await storedEvents(prefix, 'p')).find((c) => c.run_id === runId)).toMatchObject({
        status: 'error',
        reason: 'interrupted',
        error: WORKER_LOST_ERROR,
      });
      expect((await front.store.load(childSessionId))?.metadata).toMatchObject({ last_run_id: next, last_run_status: 'pending' });

      // Redis comes back empty (the probe's own bookkeeping stays: it is the test's).
      await redis.del(...(await listRedisKeys(prefix)).filter((key) => !key.startsWith(`${prefix}:probe:`)));

      const done = await reconcileQueue({
        store,
        log,
        redis,
        queue,
        keys: redisKeys(prefix),
        minAgeMs: 0,
        now: () => Date.now(),
        maxDepth: 4,
        onError: () => undefined,
        slotGraceMs: 6000,
        stillOpen: async (runId) => (await log.openRuns()).some((run) => run.runId === runId),
      });
      expect([...done.reopened, ...done.requeued]).toContain(next);
      expect(await queue.getJob(next)).toBeDefined();
    } finally {
      redis.disconnect();
      await queue.close();
      await log.close();
      await store.close();
    }
  });
});
