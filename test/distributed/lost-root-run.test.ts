// A root's own run whose worker is killed: another worker ends it exactly once, as embedded
// recovery does — the root is saved `error` (interrupted) and its own stream gets one terminal
// `error` — and its agent is not run a second time (with the default `--recover interrupt`).
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import type { CliProcess } from '../cli/cli-process.js';
import { rootSession } from '../support/harness.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import { startProbeWorker } from './probe-worker-process.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, storedEvents, until } from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

const startWorkerProcess = (prefix: string, name: string): Promise<CliProcess> =>
  startProbeWorker(prefix, name, ['--lock-ms', '1000', '--heartbeat-ms', '200'], opened.processes);

describe.skipIf(unavailable !== undefined)('a root run whose worker is lost', () => {
  it('ends error/interrupted once on the root’s own stream and in the store; the agent does not run again', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix });
    opened.fronts.push(front);
    await front.start();
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      const victim = await startWorkerProcess(prefix, 'victim');
      await front.store.save(rootSession('r', { title: 'hang root' }));
      const { runId } = await front.run('r', { message: 'Go on' });
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 1, 50);
      victim.child.kill('SIGKILL');
      await victim.exited;

      const survivor = await startWorkerProcess(prefix, 'survivor');
      const terminal = (events: Awaited<ReturnType<typeof storedEvents>>) =>
        events.filter(({ event }) => event.type === 'complete' || event.type === 'error');
      await until(async () => terminal(await storedEvents(prefix, 'r')).length > 0, 50);
      // Settled: the survivor finished the job (the live key is gone).
      await until(async () => (await redis.exists(`${prefix}:sprout:live:r`)) === 0, 50);

      const events = await storedEvents(prefix, 'r');
      expect(terminal(events).map(({ event }) => event)).toEqual([{ type: 'error', message: WORKER_LOST_ERROR }]);
      const root = await front.store.load('r');
      expect(root?.metadata.last_run_id).toBe(runId);
      expect(root?.metadata.last_run_status).toBe('error');
      expect(root?.metadata.last_run_error).toBe(WORKER_LOST_ERROR);
      // Only the killed worker's agent ever ran.
      expect(await redis.hlen(probeKeys(prefix).starts)).toBe(1);
      // The root can run again.
      await expect(front.run('r', { message: 'Again' })).resolves.toHaveProperty('runId');

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
