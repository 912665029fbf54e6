// Redis loses its data while a worker runs a child (found by the chaos check). The worker's
// renewal finds its claim gone and stops its run; before, that cancel's final save still carried
// the worker's PostgreSQL token (nobody had superseded it yet), so the child was stored
// `cancelled` and the worker that closed the run published `cancelled` and never ran it again.
// Now a worker writes nothing of a run it knows it lost, final save included: the run ends
// error/interrupted and, with `recover: 'requeue'`, runs again. Real Redis and PostgreSQL.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { requeuedRunId } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
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

describe.skipIf(unavailable !== undefined)('Redis loses its data while a worker runs a child', () => {
  it('the run in flight ends error/interrupted and, with requeue, its child runs again', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const probe = createProbe();
    const diagnostics: string[] = [];
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix,
      agent: probe.agent('w'),
      recover: 'requeue',
      leaseMs: 1000,
      lockDurationMs: 1000,
      stalledIntervalMs: 1000,
      reconcileIntervalMs: 300,
      heartbeatIntervalMs: 200,
      eventRetention: 100_000,
      onDiagnostic: (d) => diagnostics.push(d.kind),
    });
    opened.workers.push(worker);
    await worker.start();
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      await front.store.save(rootSession('p'));
      // `hang…` waits for its abort signal the first time; its run again answers.
      const { runId, childSessionId } = await front.spawnChild('p', { title: 'hang on', prompt: 'wait' });
      await until(() => probe.callOf(childSessionId) !== undefined);

      // Redis comes back empty (a restart without persistence).
      await redis.del(...(await listRedisKeys(prefix)));

      // The lost run ends error/interrupted (nothing the lost worker saved after it learnt it lost
      // the run counts), and with requeue the child runs again under the derived run id.
      const next = requeuedRunId(runId);
      await until(() => probe.calls.some((call) => call.runId === next), 50);
      await until(async () => completionsOf(await storedEvents(prefix, 'p')).some((c) => c.run_id === runId), 50);
      const stream = await storedEvents(prefix, 'p');
      expect(completionsOf(stream).find((c) => c.run_id === runId)).toMatchObject({
        status: 'error',
        reason: 'interrupted',
        error: WORKER_LOST_ERROR,
      });
      // The run again hangs too (its title): cancelled, it ends once, and the store agrees with the stream.
      await front.cancel(childSessionId);
      await until(async () => completionsOf(await storedEvents(prefix, 'p')).some((c) => c.run_id === next), 50);
      await until(async () => (await openRunIds(prefix)).length === 0, 50);
      const settled = await storedEvents(prefix, 'p');
      expect(streamProblems(settled)).toEqual([]);
      expect(completionsOf(settled).map((c) => [c.run_id, c.status])).toEqual([
        [runId, 'error'],
        [next, 'cancelled'],
      ]);
      await until(async () => (await front.store.load(childSessionId))?.metadata.last_run_status === 'cancelled', 50);
      expect((await front.store.load(childSessionId))?.metadata.last_run_id).toBe(next);
      expect(diagnostics).toContain('lease_lost');
    } finally {
      redis.disconnect();
    }
  });
});
