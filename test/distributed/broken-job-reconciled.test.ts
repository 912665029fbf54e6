// A run whose BullMQ job Redis kept only in part (found by the chaos check: after Redis lost data,
// a job hash without its data). The worker fails such a job for good (it carries no valid run);
// before, the reconciler counted any job, failed included, as present, so the pending child never
// ran. Now a failed or data-less job counts as gone: the reconciler removes it and puts the run
// back, and the child runs once. Real Redis and PostgreSQL; waits on conditions.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { redisKeys } from '../../src/distributed/keys.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { trackOpened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, completionsOf, createTestDeployment, servicesUnavailable, streamProblems, until } from './support.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a job Redis kept only in part', () => {
  it('is failed by the worker, then put back by the reconciler, and the child runs once', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    await front.store.save(rootSession('p'));
    const seen: SessionEventEnvelope[] = [];
    front.events('p', { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      // No worker yet: the job waits. Its data goes, as after a partial loss.
      const { runId, childSessionId } = await front.spawnChild('p', { title: 'B', prompt: 'go' });
      expect(await redis.hdel(redisKeys(prefix).runJob(runId), 'data')).toBe(1);

      const reconciled: string[] = [];
      const worker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: createProbe().agent('w'),
        leaseMs: 500,
        reconcileIntervalMs: 200,
        eventRetention: 100_000,
        onDiagnostic: (d) => {
          if (d.kind === 'queue_reconciled') reconciled.push(...d.requeued);
        },
      });
      opened.workers.push(worker);
      await worker.start();
      await until(() => completionsOf(seen).length === 1, 50);
      expect(reconciled).toEqual([runId]);
      expect(completionsOf(seen)).toMatchObject([{ run_id: runId, child_session_id: childSessionId, status: 'completed' }]);
      expect(streamProblems(seen)).toEqual([]);
      expect((await front.getChild(childSessionId))?.status).toBe('completed');
    } finally {
      redis.disconnect();
    }
  });
});
