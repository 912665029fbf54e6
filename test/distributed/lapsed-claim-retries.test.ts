// A worker takes over a lost run (its worker was killed) and its own claim lapses before it closes
// the run (its lease ran out on a slow machine): `claimEnd` answers false. Before, the worker
// answered 'taken by a newer claim' and BullMQ completed the job, so nobody ever closed the run
// (a likely cause of a lost-root-run hang in CI). Now the job is deferred: the next attempt claims
// the run again and closes it, exactly once. The lapse is injected, not raced: the rescuer's first
// `claimEnd` of the run finds its Redis claim gone (deleted right before, as its expiry would), so
// the real script refuses it. Real Redis, PostgreSQL and a killed `sprout worker` process.
import type { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import type { RunToken } from '../../src/api/run-ownership.js';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { redisKeys } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { RedisRunOwnership } from '../../src/distributed/redis-run-ownership.js';
import { rootSession } from '../support/harness.js';
import { adminQuery } from '../support/postgres.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import { createProbe } from './probe-agent.js';
import { completionsOf, finishedJob, openRunIds, servicesUnavailable, storedEvents, streamProblems } from './support.js';
import { trackOpened } from './opened.js';
import { openFrontDoorWithQueue } from './front-door-with-queue.js';
import { expectRootClosedOnce, loseRunOfKilledWorker, reportsOf, startRescuer } from './lost-run-rescue.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

const LAPSED = 'the claim lapsed before the lost run was closed';

/** Deletes a run's claim key while it still holds that claim (what its expiry does). 1: deleted. */
const EXPIRE_CLAIM = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** One `claimEnd` of the run under test: the claim's epoch, whether its claim was made to lapse first, the real script's answer. */
interface ClaimEndCall {
  epoch: number;
  lapsed: boolean;
  granted: boolean;
}

/**
 * Makes the first claim of `runId` that asks for the run's end lapse right before it asks: its Redis
 * claim key is deleted (checked to be that claim's), so the real `claimEnd` script refuses it as it
 * refuses an expired claim. Later claims are left alone. Returns every `claimEnd` of the run.
 */
function lapseFirstClaimEnd(redis: Redis, prefix: string, runId: string): ClaimEndCall[] {
  const calls: ClaimEndCall[] = [];
  const claimEnd = RedisRunOwnership.prototype.claimEnd;
  vi.spyOn(RedisRunOwnership.prototype, 'claimEnd').mockImplementation(async function (
    this: RedisRunOwnership,
    childSessionId: string,
    token: RunToken,
    owner: string,
  ) {
    if (token.runId !== runId) return claimEnd.call(this, childSessionId, token, owner);
    const lapsed =
      calls.length === 0 && (await redis.eval(EXPIRE_CLAIM, 1, redisKeys(prefix).owner(runId), `${owner}|${token.epoch}`)) === 1;
    const granted = await claimEnd.call(this, childSessionId, token, owner);
    calls.push({ epoch: token.epoch, lapsed, granted });
    return granted;
  });
  return calls;
}

/**
 * Makes the first closer of `runId` lose the run right after it was granted the end and before it
 * closes it: PostgreSQL's epoch of the run is raised (what a newer claim does, here one that then
 * died at once), so the close is refused with `RunFencedError`. Returns every `claimEnd` of the run.
 */
function fenceFirstClose(prefix: string, runId: string): ClaimEndCall[] {
  const calls: ClaimEndCall[] = [];
  const claimEnd = RedisRunOwnership.prototype.claimEnd;
  vi.spyOn(RedisRunOwnership.prototype, 'claimEnd').mockImplementation(async function (
    this: RedisRunOwnership,
    childSessionId: string,
    token: RunToken,
    owner: string,
  ) {
    const granted = await claimEnd.call(this, childSessionId, token, owner);
    if (token.runId !== runId) return granted;
    const lapsed = calls.length === 0 && granted;
    if (lapsed) await adminQuery(`UPDATE "${prefix}".run_fences SET epoch = epoch + 1 WHERE run_id = $1`, [runId]);
    calls.push({ epoch: token.epoch, lapsed, granted });
    return granted;
  });
  return calls;
}

describe.skipIf(unavailable !== undefined)('a worker whose claim of a lost run lapsed before it closed the run', () => {
  it('defers the job, and the next attempt closes the lost child run exactly once', async () => {
    const { prefix, front, redis, queue, close } = await openFrontDoorWithQueue(opened);
    try {
      await front.store.save(rootSession('p'));
      let childSessionId = '';
      const runId = await loseRunOfKilledWorker(opened, prefix, redis, async () => {
        const spawned = await front.spawnChild('p', { title: 'hang once', prompt: 'wait' });
        childSessionId = spawned.childSessionId;
        return spawned;
      });
      expect(await openRunIds(prefix)).toEqual([runId]);

      const claimEnds = lapseFirstClaimEnd(redis, prefix, runId);
      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      await startRescuer(opened, prefix, probe, diagnostics);

      // The job is finished only once the lost run was closed (before: at once, the run left open).
      expect(await finishedJob(queue, runId)).toBe('recovered');
      // The first claim lapsed and was refused; a later claim (a newer epoch) closed the run.
      expect(claimEnds[0]).toMatchObject({ lapsed: true, granted: false });
      expect(claimEnds.at(-1)).toMatchObject({ lapsed: false, granted: true });
      expect(claimEnds.at(-1)!.epoch).toBeGreaterThan(claimEnds[0]!.epoch);
      expect(claimEnds.filter((call) => call.granted)).toHaveLength(1);
      const reports = reportsOf(diagnostics, runId);
      expect(reports.deferred).toContain(LAPSED);
      expect(reports.recovered).toEqual([expect.objectContaining({ childSessionId, status: 'error' })]);

      // One end on the parent's stream, and the store agrees with it.
      const stream = await storedEvents(prefix, 'p');
      expect(streamProblems(stream)).toEqual([]);
      expect(completionsOf(stream).filter((c) => c.run_id === runId)).toEqual([
        expect.objectContaining({ status: 'error', reason: 'interrupted', error: WORKER_LOST_ERROR }),
      ]);
      expect((await front.store.load(childSessionId))?.metadata).toMatchObject({
        last_run_id: runId,
        last_run_status: 'error',
        last_run_error: WORKER_LOST_ERROR,
      });
      expect(await openRunIds(prefix)).toEqual([]);
      expect(await redis.exists(redisKeys(prefix).live(childSessionId))).toBe(0);
      // Only the killed worker's agent ever ran the child.
      expect(probe.calls).toEqual([]);
      expect(await redis.hlen(probeKeys(prefix).starts)).toBe(1);
    } finally {
      await close();
    }
  });

  it('defers the job, and the next attempt closes the lost root run exactly once', async () => {
    const { prefix, front, redis, queue, close } = await openFrontDoorWithQueue(opened);
    try {
      await front.store.save(rootSession('r', { title: 'hang root' }));
      const runId = await loseRunOfKilledWorker(opened, prefix, redis, () => front.run('r', { message: 'Go on' }));

      const claimEnds = lapseFirstClaimEnd(redis, prefix, runId);
      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      await startRescuer(opened, prefix, probe, diagnostics);

      expect(await finishedJob(queue, runId)).toBe('recovered');
      expect(claimEnds[0]).toMatchObject({ lapsed: true, granted: false });
      expect(claimEnds.at(-1)).toMatchObject({ lapsed: false, granted: true });
      expect(claimEnds.filter((call) => call.granted)).toHaveLength(1);
      const reports = reportsOf(diagnostics, runId);
      expect(reports.deferred).toContain(LAPSED);
      expect(reports.recovered).toEqual([expect.objectContaining({ childSessionId: 'r', status: 'error' })]);

      // One terminal event on the root's own stream, and the store agrees with it.
      await expectRootClosedOnce(front, redis, prefix, 'r', runId);
      expect(probe.calls).toEqual([]);
      expect(await redis.hlen(probeKeys(prefix).starts)).toBe(1);
    } finally {
      await close();
    }
  });

  it('a closer granted the end whose close is fenced leaves the end to the next claim: the run is closed once', async () => {
    const { prefix, front, redis, queue, close } = await openFrontDoorWithQueue(opened);
    try {
      await front.store.save(rootSession('p'));
      let childSessionId = '';
      const runId = await loseRunOfKilledWorker(opened, prefix, redis, async () => {
        const spawned = await front.spawnChild('p', { title: 'hang once', prompt: 'wait' });
        childSessionId = spawned.childSessionId;
        return spawned;
      });

      const claimEnds = fenceFirstClose(prefix, runId);
      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      await startRescuer(opened, prefix, probe, diagnostics);

      // Before, the first grant kept the end for a week: every later claim was refused and the run stayed open.
      expect(await finishedJob(queue, runId)).toBe('recovered');
      expect(claimEnds[0]).toMatchObject({ lapsed: true, granted: true });
      expect(claimEnds.at(-1)).toMatchObject({ lapsed: false, granted: true });
      expect(claimEnds.at(-1)!.epoch).toBeGreaterThan(claimEnds[0]!.epoch);
      const reports = reportsOf(diagnostics, runId);
      expect(reports.deferred).toContain(LAPSED);
      expect(reports.recovered).toEqual([expect.objectContaining({ childSessionId, status: 'error' })]);

      const stream = await storedEvents(prefix, 'p');
      expect(streamProblems(stream)).toEqual([]);
      expect(completionsOf(stream).filter((c) => c.run_id === runId)).toEqual([
        expect.objectContaining({ status: 'error', reason: 'interrupted', error: WORKER_LOST_ERROR }),
      ]);
      expect((await front.store.load(childSessionId))?.metadata).toMatchObject({ last_run_id: runId, last_run_status: 'error' });
      expect(await openRunIds(prefix)).toEqual([]);
      expect(probe.calls).toEqual([]);
    } finally {
      await close();
    }
  });
});
