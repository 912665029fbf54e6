// A zombie worker: a `sprout worker` process stopped (SIGSTOP) while it runs two children, long
// enough for another worker to take its runs over, then woken (SIGCONT) to finish its agents.
// Whatever the zombie writes after losing its runs must be invisible: every run ends exactly once
// on the parent's stream, each child's stored status and transcript agree with the last
// completion there, the parent's limit holds on the stream, and the zombie stops the runs it lost
// instead of claiming them back.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { requeuedRunId } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
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

const LOCK_MS = 1000;
const PER_PARENT = 2;

const startWorkerProcess = (prefix: string, name: string): Promise<CliProcess> =>
  startProbeWorker(
    prefix,
    name,
    ['--lock-ms', String(LOCK_MS), '--heartbeat-ms', '200', '--per-parent', String(PER_PARENT), '--recover', 'requeue'],
    opened.processes,
  );

/** The most runs open at once on a parent's stream (started and not yet completed). */
function mostOpen(envelopes: readonly SessionEventEnvelope[]): number {
  const open = new Set<string>();
  let most = 0;
  for (const { event } of envelopes) {
    if (event.type === 'sub_session_started') open.add(event.run_id);
    if (event.type === 'sub_session_completed') open.delete(event.run_id);
    most = Math.max(most, open.size);
  }
  return most;
}

describe.skipIf(unavailable !== undefined)('a zombie worker (stopped past its lease, then woken)', () => {
  it('writes nothing visible after losing its runs, and stops them instead of claiming them back', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const keys = probeKeys(prefix);
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      const zombie = await startWorkerProcess(prefix, 'zombie');
      await front.store.save(rootSession('p'));
      const stalled = [
        await front.spawnChild('p', { title: 'stall 1', prompt: 'wait' }),
        await front.spawnChild('p', { title: 'stall 2', prompt: 'wait' }),
      ];
      await until(async () => (await redis.hlen(keys.starts)) === 2, 50);

      zombie.child.kill('SIGSTOP');
      const survivor = await startWorkerProcess(prefix, 'survivor');
      // More children of the same parent: they must wait for the zombie's runs to be closed.
      const more = [];
      for (let i = 1; i <= 3; i++) more.push(await front.spawnChild('p', { title: `after ${i}`, prompt: 'go' }));

      // The survivor ends the zombie's runs as interrupted and runs those children again.
      await until(async () => {
        const completions = completionsOf(await storedEvents(prefix, 'p'));
        return stalled.every(({ runId }) => completions.some((c) => c.run_id === requeuedRunId(runId)));
      }, 50);

      // Wake the zombie and let its agents answer late.
      await redis.set(keys.release, '1');
      zombie.child.kill('SIGCONT');
      // Its agents end (they answered), and it learns it lost both runs.
      await until(
        async () => (await redis.hexists(keys.ends, stalled[0]!.runId)) === 1 && (await redis.hexists(keys.ends, stalled[1]!.runId)) === 1,
        50,
      );
      await until(() => stalled.every(({ runId }) => zombie.stderr().includes(`run ${runId} lost its owner lease`)), 50);
      zombie.child.kill('SIGTERM');
      expect(await zombie.exited).toBe(0);

      await until(async () => (await listRedisKeys(`${prefix}:sprout:live`)).length === 0 && (await openRunIds(prefix)).length === 0, 50);
      const stream = await storedEvents(prefix, 'p');
      expect(streamProblems(stream)).toEqual([]);
      expect(mostOpen(stream)).toBeLessThanOrEqual(PER_PARENT);
      const byRun = new Map(completionsOf(stream).map((c) => [c.run_id, c]));
      for (const { runId, childSessionId } of stalled) {
        expect(byRun.get(runId)).toMatchObject({ status: 'error', reason: 'interrupted', error: WORKER_LOST_ERROR });
        expect(byRun.get(requeuedRunId(runId))?.status).toBe('completed');
        // Nothing of the zombie's late answer: not on the stream, not in the stored transcript or status.
        const child = await front.store.load(childSessionId);
        expect(child?.metadata.last_run_id).toBe(requeuedRunId(runId));
        expect(child?.metadata.last_run_status).toBe('completed');
        expect(child?.messages.some((m) => m.content.startsWith('Late:'))).toBe(false);
        const own = await storedEvents(prefix, childSessionId);
        expect(own.some(({ event }) => event.type === 'token' && event.content.startsWith('Late:'))).toBe(false);
      }
      for (const { runId } of more) expect(byRun.get(runId)?.status).toBe('completed');
      // The zombie never claimed a lost run back: no ownership key of its is left.
      expect(await listRedisKeys(`${prefix}:sprout:owner`)).toEqual([]);

      survivor.child.kill('SIGTERM');
      expect(await survivor.exited).toBe(0);
    } finally {
      redis.disconnect();
    }
  });
});
