// A worker whose claim of a run expired while it ran it (its process stalled past the lease) and
// that nobody took over: the worker learns it at its next renewal and stops the agent. Before, it
// then answered 'taken over' and BullMQ completed the job, so the run stayed open for good (the
// reconciler counts a completed job as present). Now the job is deferred: the next delivery finds
// the run open and closes it, once. The expiry is injected (the claim key deleted, as its expiry
// does), not raced. Real Redis and PostgreSQL, an in-process worker.
import { describe, expect, it } from 'vitest';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { redisKeys } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  finishedJob,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
} from './support.js';
import { trackOpened } from './opened.js';
import { openFrontDoorWithQueue } from './front-door-with-queue.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a worker whose claim expired with nobody taking the run', () => {
  it('defers the job; the next delivery closes the run once, and the store agrees', async () => {
    const { prefix, front, queue, redis, close } = await openFrontDoorWithQueue(opened);
    try {
      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      const worker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: probe.agent('w'),
        name: 'w',
        leaseMs: 1500,
        heartbeatIntervalMs: 200,
        admissionRetryMs: 100,
        eventRetention: 100_000,
        onDiagnostic: (diagnostic) => diagnostics.push(diagnostic),
      });
      opened.workers.push(worker);
      await worker.start();
      await front.store.save(rootSession('p'));
      const { childSessionId, runId } = await front.spawnChild('p', { title: 'hang until aborted', prompt: 'wait' });
      await until(() => probe.callOf(childSessionId) !== undefined);

      // The claim expires (deleted, as its expiry does): the next renewal finds it gone.
      const owner = redisKeys(prefix).owner(runId);
      await until(async () => (await redis.get(owner)) !== null);
      await redis.del(owner);
      await until(() => probe.callOf(childSessionId)!.signal.aborted);

      expect(await finishedJob(queue, runId)).toBe('recovered');
      expect(diagnostics.some((d) => d.kind === 'run_deferred' && d.runId === runId && d.why.includes('lost its claim'))).toBe(true);

      const stream = await storedEvents(prefix, 'p');
      expect(streamProblems(stream)).toEqual([]);
      expect(completionsOf(stream).filter((c) => c.run_id === runId)).toEqual([
        expect.objectContaining({ status: 'error', reason: 'interrupted', error: WORKER_LOST_ERROR }),
      ]);
      expect((await front.getChild(childSessionId))?.status).toBe('error');
      expect(await openRunIds(prefix)).toEqual([]);
      expect(probe.calls.filter((call) => call.sessionId === childSessionId)).toHaveLength(1);
    } finally {
      await close();
    }
  });
});
