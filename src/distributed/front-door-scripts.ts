import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * How long a queued run may have no BullMQ job yet before the bounded queue stops counting it: the
 * front door adds the job right after the admission, so only a front door that died in between
 * leaves such an entry.
 */
const JOB_GRACE_MS = 60_000;

/**
 * Admission of a run to the queue, atomic (one script):
 * 1. refused (`gone`) while the parent's or the child's tree is being deleted;
 * 2. de-duplicated (`live`, with the run already there) while the child has a queued or running run;
 *    refused (`used`) when the run id is taken already: its BullMQ job is still kept, or a worker
 *    took a run of that id (its `taken` marker) — a caller's `enqueue(job, { runId })` that reuses
 *    an id would otherwise be dropped by BullMQ as a duplicate job and leave the child busy;
 * 3. refused (`full`) when `capacity` runs are queued and not started yet. The runs a front door
 *    queued are a ZSET; it is pruned only when it looks full: a run whose BullMQ job a worker took
 *    (`processedOn` is set on the job hash) or whose job is gone no longer counts. Workers never
 *    touch it;
 * 4. otherwise the child's live run is set (and the run counted), and its halt mark is cleared
 *    (it was asked to run again, as in embedded mode): `ok`.
 *
 * With an empty run id it only says whether there would be room (`ok`, `gone` or `full`).
 */
const ADMIT_RUN = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if redis.call('EXISTS', KEYS[3]) == 1 or redis.call('EXISTS', KEYS[4]) == 1 then return {'gone'} end
local runId = ARGV[1]
if runId ~= '' then
  local existing = redis.call('GET', KEYS[1])
  if existing then return {'live', existing} end
  if redis.call('EXISTS', ARGV[3] .. runId) == 1 or redis.call('EXISTS', ARGV[5]) == 1 then return {'used'} end
end
local capacity = tonumber(ARGV[2])
if capacity > 0 and redis.call('ZCARD', KEYS[2]) >= capacity then
  local members = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local horizon = now - tonumber(ARGV[4])
  for i = 1, #members, 2 do
    local job = ARGV[3] .. members[i]
    if redis.call('HEXISTS', job, 'processedOn') == 1 or (redis.call('EXISTS', job) == 0 and tonumber(members[i + 1]) < horizon) then
      redis.call('ZREM', KEYS[2], members[i])
    end
  end
  if redis.call('ZCARD', KEYS[2]) >= capacity then return {'full'} end
end
if runId == '' then return {'ok'} end
redis.call('SET', KEYS[1], runId)
redis.call('DEL', KEYS[5])
if capacity > 0 then redis.call('ZADD', KEYS[2], now, runId) end
return {'ok'}`;

/** What {@link FrontDoorScripts.admit} answered. */
export type Admission = { kind: 'ok' } | { kind: 'gone' } | { kind: 'full' } | { kind: 'used' } | { kind: 'live'; runId: string };

type AdmitCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * The front door's own Lua (the workers' scripts are `RedisScripts`): the admission of a run to
 * the bounded queue, checked against a tree being deleted.
 *
 * @example
 * const admission = await new FrontDoorScripts(redis, redisKeys('sprout')).admit({ parentSessionId: 'root', childSessionId: 'c1', runId, capacity: 128 });
 */
export class FrontDoorScripts {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
    if (!('sproutAdmitRun' in redis)) redis.defineCommand('sproutAdmitRun', { numberOfKeys: 5, lua: ADMIT_RUN });
  }

  /** Admits the run (see {@link ADMIT_RUN}); `runId: ''` only checks for room. `capacity` 0: unbounded. */
  async admit(run: { parentSessionId: string; childSessionId: string; runId: string; capacity: number }): Promise<Admission> {
    const call = (this.#redis as unknown as { sproutAdmitRun: AdmitCall }).sproutAdmitRun;
    const answer = (await call.call(
      this.#redis,
      this.#keys.live(run.childSessionId),
      this.#keys.queued,
      this.#keys.deleting(run.parentSessionId),
      this.#keys.deleting(run.childSessionId),
      this.#keys.halt(run.childSessionId),
      run.runId,
      run.capacity,
      this.#keys.runJob(''),
      JOB_GRACE_MS,
      this.#keys.taken(run.runId),
    )) as string[];
    const [kind, runId] = answer;
    if (kind === 'live' && runId !== undefined) return { kind: 'live', runId };
    if (kind === 'gone' || kind === 'full' || kind === 'used') return { kind };
    return { kind: 'ok' };
  }

  /** The run no longer waits in the queue (its job was removed). */
  async forget(runId: string): Promise<void> {
    await this.#redis.zrem(this.#keys.queued, runId);
  }
}
