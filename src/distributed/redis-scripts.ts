import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** Milliseconds on the Redis server's clock (one clock for every worker, whatever their hosts say). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

const SCRIPTS = {
  /** Claims or renews a run for one worker. 0: it is this worker's now; n > 0: another worker holds it for n ms more. */
  sproutClaimRun: {
    numberOfKeys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 0
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = 1 end
return ttl`,
  },
  /** Deletes a key only when it still holds the expected value. 1: deleted. */
  sproutDeleteIf: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`,
  },
  /** Replaces a key's value only when it still holds the expected one. 1: replaced. */
  sproutReplaceIf: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2]) return 1 end
return 0`,
  },
  /**
   * Per-parent admission, atomic: expired leases are dropped; the run gets (or keeps) a lease
   * expiring in ARGV[3] ms when it already holds one or fewer than ARGV[2] live leases exist.
   * Otherwise, with ARGV[4] = '1', the run is parked (oldest first) to be promoted when a slot
   * frees. 1: admitted; 0: not.
   */
  sproutAcquireSlot: {
    numberOfKeys: 2,
    lua: `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local lease = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease * 2)
  redis.call('ZREM', KEYS[2], ARGV[1])
  return 1
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 86400000)
end
return 0`,
  },
  /** Gives a run's lease back; returns the oldest parked runs that now fit (to promote). */
  sproutReleaseSlot: {
    numberOfKeys: 2,
    lua: `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then return {} end
return redis.call('ZRANGE', KEYS[2], 0, free - 1)`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

/**
 * The Lua scripts of distributed mode on one Redis connection (sent once, then run by SHA):
 * run ownership, compare-and-delete / compare-and-set, and the per-parent admission leases.
 *
 * @example
 * const scripts = new RedisScripts(redis, redisKeys('sprout'));
 * if (await scripts.acquireSlot('root', runId, 8, 30_000, true)) runIt();
 */
export class RedisScripts {
  readonly #redis: Redis;
  readonly #keys: RedisKeys;

  constructor(redis: Redis, keys: RedisKeys) {
    this.#redis = redis;
    this.#keys = keys;
    for (const [name, script] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, script);
    }
  }

  #call(name: ScriptName, ...args: (string | number)[]): Promise<unknown> {
    return (this.#redis as unknown as Record<ScriptName, ScriptCall>)[name](...args);
  }

  /** Claims (or renews) the run for `owner`: 0 when it is `owner`'s, else ms until the other owner's claim expires. */
  async claimRun(runId: string, owner: string, ttlMs: number): Promise<number> {
    return Number(await this.#call('sproutClaimRun', this.#keys.owner(runId), owner, ttlMs));
  }

  /** Gives up the claim on the run (only `owner`'s own). */
  async disownRun(runId: string, owner: string): Promise<void> {
    await this.#call('sproutDeleteIf', this.#keys.owner(runId), owner);
  }

  /** Deletes `key` only while it holds `expected`. */
  async deleteIf(key: string, expected: string): Promise<boolean> {
    return Number(await this.#call('sproutDeleteIf', key, expected)) === 1;
  }

  /** Sets `key` to `next` only while it holds `expected`. */
  async replaceIf(key: string, expected: string, next: string): Promise<boolean> {
    return Number(await this.#call('sproutReplaceIf', key, expected, next)) === 1;
  }

  /** Takes or renews a slot of the parent for the run (fewer than `limit` live leases); parks the run when refused and `park`. */
  async acquireSlot(parentSessionId: string, runId: string, limit: number, leaseMs: number, park: boolean): Promise<boolean> {
    const answer = await this.#call(
      'sproutAcquireSlot',
      this.#keys.slots(parentSessionId),
      this.#keys.parked(parentSessionId),
      runId,
      limit,
      leaseMs,
      park ? '1' : '0',
    );
    return Number(answer) === 1;
  }

  /** Frees the run's slot; resolves with the parked runs of the parent that now fit. */
  async releaseSlot(parentSessionId: string, runId: string, limit: number): Promise<string[]> {
    const answer = await this.#call(
      'sproutReleaseSlot',
      this.#keys.slots(parentSessionId),
      this.#keys.parked(parentSessionId),
      runId,
      limit,
    );
    return Array.isArray(answer) ? answer.map(String) : [];
  }

  /** Takes a run off the parent's parked list (it ended without a slot, or its job is gone). */
  async unpark(parentSessionId: string, runId: string): Promise<void> {
    await this.#redis.zrem(this.#keys.parked(parentSessionId), runId);
  }
}
