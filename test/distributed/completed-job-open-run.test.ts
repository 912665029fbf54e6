// The reconciler's safety net: a run still open in PostgreSQL whose BullMQ job was completed can
// never be closed by that job (before, a completed job counted as present until BullMQ removed it
// an hour later). A pass replaces such a job, and only while PostgreSQL still says the run is open
// (a run's completion is durable before its job completes, so a run that closed in between keeps
// its completed job). Real Redis and PostgreSQL; the job is completed by hand.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { openPostgres } from '../../src/distributed/connections.js';
import { RUN_QUEUE_NAME, redisKeys } from '../../src/distributed/keys.js';
import { reconcileQueue } from '../../src/distributed/reconcile-queue.js';
import { RUN_JOB_NAME, RUN_JOB_OPTIONS, type RunJobData } from '../../src/distributed/run-job.js';
import { rootSession } from '../support/harness.js';
import { makeSession } from '../../src/testing/index.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable } from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('the reconciler and a completed job of an open run', () => {
  it('replaces the job while the run is open in PostgreSQL, and leaves it once the run closed', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const { store, log } = openPostgres(POSTGRES_URL, prefix, 1000, () => undefined);
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    const queue = new Queue(RUN_QUEUE_NAME, { connection: redis, prefix });
    const taker = new Worker(RUN_QUEUE_NAME, null, { connection: redis, prefix });
    taker.on('error', () => undefined);
    try {
      await store.save(rootSession('p'));
      const runs: RunJobData[] = ['open', 'closing'].map((name) => ({
        runId: `run-${name}`,
        parentSessionId: 'p',
        childSessionId: `child-${name}`,
        model: 'm',
      }));
      for (const run of runs) {
        await store.save(makeSession(run.childSessionId, { kind: 'child', parent_session_id: 'p', root_session_id: 'p', spawn_depth: 1 }));
        await log.append('p', {
          type: 'sub_session_started',
          parent_session_id: 'p',
          child_session_id: run.childSessionId,
          run_id: run.runId,
        });
        // Its job, taken and completed without closing the run (what a worker that dropped it did).
        await queue.add(RUN_JOB_NAME, run, { ...RUN_JOB_OPTIONS, jobId: run.runId });
        const job = await taker.getNextJob('by-hand');
        expect(job?.id).toBe(run.runId);
        await job.moveToCompleted('dropped', 'by-hand', false);
        expect(await queue.getJobState(run.runId)).toBe('completed');
      }
      expect((await log.openRuns()).map((run) => run.runId).sort()).toEqual(['run-closing', 'run-open']);

      const keys = redisKeys(prefix);
      await redis.set(keys.slotsIntact, 'test');
      const pass = () =>
        reconcileQueue({
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
          // `run-closing` closes between the listing of open runs and this question.
          stillOpen: async (runId) => runId === 'run-open' && (await log.openRuns()).some((run) => run.runId === runId),
        });
      const done = await pass();
      expect(done.reopened).toEqual(['run-open']);
      expect(await queue.getJobState('run-open')).toBe('waiting');
      expect(await queue.getJobState('run-closing')).toBe('completed');
      // A second pass finds the job it put back and changes nothing.
      expect((await pass()).reopened).toEqual([]);
    } finally {
      await taker.close();
      await queue.close();
      redis.disconnect();
      await log.close();
      await store.close();
    }
  });
});
