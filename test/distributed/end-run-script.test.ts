// The worker's end of a run in one Redis call (sproutEndRun): what finishRun and releaseRun did
// one after the other — the child's live key (only while it names the run), the run's markers,
// the worker's own claim (only that claim) and the per-parent slot, with the parked runs that fit.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisKeys } from '../../src/distributed/keys.js';
import { RedisScripts } from '../../src/distributed/redis-scripts.js';
import { REDIS_URL, createTestDeployment, listRedisKeys, servicesUnavailable } from './support.js';

const unavailable = await servicesUnavailable();

describe.skipIf(unavailable !== undefined)('sproutEndRun', () => {
  const deployment = createTestDeployment();
  const keys = redisKeys(deployment.prefix);
  let redis: Redis;
  let scripts: RedisScripts;

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    scripts = new RedisScripts(redis, keys);
  });

  afterAll(async () => {
    redis.disconnect();
    await deployment.cleanup();
    expect(await listRedisKeys(deployment.prefix)).toEqual([]);
  });

  /** A run taken by worker `w` at epoch 1 (live, owner, epoch, taken, cancel, ended), holding a slot of parent `p` with limit 1; `r2` parked. */
  const setUp = async (suffix: string) => {
    const run = { runId: `r1${suffix}`, parentSessionId: `p${suffix}`, childSessionId: `c1${suffix}` };
    const { runId, parentSessionId, childSessionId } = run;
    await redis.set(keys.live(childSessionId), runId);
    expect(await scripts.claimRun(runId, 'w', 30_000)).toEqual({ waitMs: 0, epoch: 1 });
    await redis.set(keys.taken(runId), 'w');
    await redis.set(keys.cancel(runId), 'user');
    await redis.set(keys.ended(runId), 'w|1');
    expect(await scripts.acquireSlot(parentSessionId, runId, 1, 30_000, true, 60_000)).toBe(true);
    expect(await scripts.acquireSlot(parentSessionId, `r2${suffix}`, 1, 30_000, true, 60_000)).toBe(false);
    return run;
  };

  it('a claim is its owner’s whole name: owner `w` does not take a run `w|x` holds', async () => {
    const runId = 'r-names';
    expect(await scripts.claimRun(runId, 'w|x', 30_000)).toEqual({ waitMs: 0, epoch: 1 });
    expect((await scripts.claimRun(runId, 'w', 30_000)).waitMs).toBeGreaterThan(0);
    expect(await scripts.claimRun(runId, 'w|x', 30_000)).toEqual({ waitMs: 0, epoch: 2 });
    await redis.del(keys.owner(runId), keys.epoch(runId));
  });

  it('ends the run, gives its claim and slot back, and answers the parked runs that now fit', async () => {
    const run = await setUp('a');
    expect(await scripts.endRun(run, true, 1, 60_000, 'w', 1)).toEqual(['r2a']);
    for (const key of [
      keys.live(run.childSessionId),
      keys.owner(run.runId),
      keys.epoch(run.runId),
      keys.taken(run.runId),
      keys.cancel(run.runId),
      keys.ended(run.runId),
    ]) {
      expect(await redis.exists(key)).toBe(0);
    }
    expect(await redis.zscore(keys.slots(run.parentSessionId), run.runId)).toBeNull();
    await redis.del(keys.parked(run.parentSessionId));
  });

  it('leaves a newer live run, another claim and (without `slot`) the slot alone', async () => {
    const run = await setUp('b');
    await redis.set(keys.live(run.childSessionId), 'newer');
    await redis.set(keys.owner(run.runId), 'other|2');
    expect(await scripts.endRun(run, false, 1, 60_000, 'w', 1)).toEqual([]);
    expect(await redis.get(keys.live(run.childSessionId))).toBe('newer');
    expect(await redis.get(keys.owner(run.runId))).toBe('other|2');
    expect(await redis.zscore(keys.slots(run.parentSessionId), run.runId)).not.toBeNull();
    expect(await redis.exists(keys.taken(run.runId), keys.cancel(run.runId), keys.epoch(run.runId), keys.ended(run.runId))).toBe(0);
    await redis.del(
      keys.live(run.childSessionId),
      keys.owner(run.runId),
      keys.slots(run.parentSessionId),
      keys.parked(run.parentSessionId),
    );
  });
});
