import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** Milliseconds on the Redis server's clock (one clock for every worker, whatever their hosts say). */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Claims a run (KEYS[1]: owner, KEYS[2]: epoch counter; ARGV[1]: worker, ARGV[2]: ttl) under a new
 * epoch when nobody else holds it: returns `{0, epoch<extra>}`, else `{ms left, 0<extra>}`.
 */
const claimRun = (extra: string): string => `local v = redis.call('GET', KEYS[1])
if (not v) or string.match(v, '^(.*)|%d+$') == ARGV[1] then
  local epoch = redis.call('INCR', KEYS[2])
  redis.call('PEXPIRE', KEYS[2], 604800000)
  redis.call('SET', KEYS[1], ARGV[1] .. '|' .. epoch, 'PX', ARGV[2])
  return {0, epoch${extra}}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 1 then ttl = 1 end
return {ttl, 0${extra}}`;

/**
 * Per-parent admission (KEYS[1]: slots, KEYS[2]: parked; ARGV: run, limit, lease, park, grace);
 * `onAdmit` runs too when the run is admitted. 1: admitted; 0: not (parked when ARGV[4] is '1').
 */
const admitSlot = (onAdmit: string): string => `${NOW}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[5]))
local lease = tonumber(ARGV[3])
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease * 2 + tonumber(ARGV[5]))
  redis.call('ZREM', KEYS[2], ARGV[1])
  ${onAdmit}
  return 1
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[2], 'NX', now, ARGV[1])
  redis.call('PEXPIRE', KEYS[2], 86400000)
end
return 0`;

/** Frees the run's slot (KEYS[1]: slots, KEYS[2]: parked; ARGV: run, limit, grace); returns the parked runs that now fit. */
const RELEASE_SLOT = `${NOW}
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
local free = tonumber(ARGV[2]) - redis.call('ZCARD', KEYS[1])
if free <= 0 then return {} end
return redis.call('ZRANGE', KEYS[2], 0, free - 1)`;

/**
 * A run's two releases (KEYS 1-3: slots, parked, owner; ARGV: run, limit, grace, worker|epoch,
 * slot): the claim (deleted while it holds ARGV[4], when not empty), then the slot when ARGV[5]
 * is '1'. Returns the parked runs that now fit.
 */
const RELEASE_RUN = `if ARGV[4] ~= '' and redis.call('GET', KEYS[3]) == ARGV[4] then redis.call('DEL', KEYS[3]) end
if ARGV[5] ~= '1' then return {} end
${RELEASE_SLOT}`;

const SCRIPTS = {
  /**
   * Claims a run for one worker under a new epoch (KEYS: owner, epoch counter; ARGV: worker,
   * ttl). The owner key holds `worker|epoch`. {0, epoch}: it is this worker's now; {n, 0}: another
   * worker holds it for n ms more.
   */
  sproutClaimRun: {
    numberOfKeys: 2,
    lua: claimRun(''),
  },
  /**
   * A worker taking a job, in one call (KEYS: owner, epoch counter, live, cancel, halt, taken;
   * ARGV: worker, ttl, run id): reads the child's live run and the run's flags; when the live run
   * is this run, claims it as {@link sproutClaimRun} does. {waitMs, epoch, live, cancel, halt,
   * taken}: waitMs -1 when the live run is another (nothing claimed).
   */
  sproutTakeRun: {
    numberOfKeys: 6,
    lua: `local live = redis.call('GET', KEYS[3])
local cancel = redis.call('GET', KEYS[4])
local halt = redis.call('GET', KEYS[5])
local taken = redis.call('GET', KEYS[6])
if live ~= ARGV[3] then return {-1, 0, live, cancel, halt, taken} end
${claimRun(', live, cancel, halt, taken')}`,
  },
  /** Renews a claim only while the owner key still holds exactly `worker|epoch` (ARGV[1]). 1: renewed; 0: the run is not this claim's any more. */
  sproutRenewRun: {
    numberOfKeys: 1,
    lua: `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0`,
  },
  /**
   * After Redis lost data (its epoch counter fell behind PostgreSQL's): while the owner key still
   * holds this claim (ARGV[1]), moves the counter past ARGV[2] and re-keys the claim under the new
   * epoch, which it returns; 0 when the claim is not this worker's any more.
   */
  sproutRaiseEpoch: {
    numberOfKeys: 2,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local epoch = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), tonumber(ARGV[2])) + 1
redis.call('SET', KEYS[2], epoch, 'PX', 604800000)
redis.call('SET', KEYS[1], ARGV[3] .. '|' .. epoch, 'PX', ARGV[4])
return epoch`,
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
   * Per-parent admission, atomic: leases expired for more than ARGV[5] ms are dropped (a lost
   * worker's slot stays taken until the run is closed and the slot released by whoever closes it;
   * the grace only reclaims slots nobody will ever release); the run gets (or keeps) a lease
   * expiring in ARGV[3] ms when it already holds one or fewer than ARGV[2] live leases exist.
   * Otherwise, with ARGV[4] = '1', the run is parked (oldest first) to be promoted when a slot
   * frees. 1: admitted; 0: not.
   */
  sproutAcquireSlot: {
    numberOfKeys: 2,
    lua: admitSlot(''),
  },
  /**
   * The end of a run, in one call (KEYS: live, taken, cancel, epoch, ended; ARGV: run id): the
   * child has no live run any more unless a newer one took its place, and the run's markers go.
   * 1: the live key was this run's.
   */
  sproutFinishRun: {
    numberOfKeys: 5,
    lua: `local deleted = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then deleted = redis.call('DEL', KEYS[1]) end
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return deleted`,
  },
  /**
   * Makes a run the child's live run (KEYS: live; ARGV: run id) unless another run is live.
   * {1, run}: it is (or already was); {0, other}: another run is live.
   */
  sproutOpenRun: {
    numberOfKeys: 1,
    lua: `local v = redis.call('GET', KEYS[1])
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1])
  return {1, ARGV[1]}
end
return {0, v}`,
  },
  /**
   * The right to publish a run's end (KEYS: owner, live, ended; ARGV: worker|epoch, run id, ttl):
   * granted to the current claim, while the run is the child's live run, once per run — unless
   * the claim that was granted it is older than this one. Such a claim lost the run before it
   * closed it (its close was fenced in PostgreSQL, which holds the newer epoch), so it never will:
   * the newer claim gets the right instead, and PostgreSQL's fence and open-run ledger still let
   * only one close through. 1: granted.
   */
  sproutClaimEnd: {
    numberOfKeys: 3,
    lua: `if redis.call('GET', KEYS[1]) ~= ARGV[1] or redis.call('GET', KEYS[2]) ~= ARGV[2] then return 0 end
local held = redis.call('GET', KEYS[3])
if held then
  local heldEpoch = tonumber(string.match(held, '|(%d+)$'))
  local epoch = tonumber(string.match(ARGV[1], '|(%d+)$'))
  if heldEpoch == nil or epoch == nil or heldEpoch >= epoch then return 0 end
end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3])
return 1`,
  },
  /**
   * {@link sproutAcquireSlot} (KEYS 1-2, ARGV 1-5), and when admitted also marks the run taken by
   * this worker (KEYS[3] set to ARGV[6] for ARGV[7] ms). 1: admitted; 0: not; -1: not, because the
   * slots-intact mark (KEYS[4]) is missing and the slot set cannot be trusted yet.
   */
  sproutSlotAndTake: {
    numberOfKeys: 4,
    lua: `if redis.call('EXISTS', KEYS[4]) == 0 then return -1 end
${admitSlot("redis.call('SET', KEYS[3], ARGV[6], 'PX', ARGV[7])")}`,
  },
  /**
   * {@link sproutReleaseSlot} (KEYS 1-2, ARGV 1-3) when ARGV[5] is '1', and gives up the claim
   * (KEYS[3] deleted while it holds ARGV[4]) when ARGV[4] is not empty: a run's two releases in
   * one call. Returns the parked runs that now fit.
   */
  sproutReleaseRun: {
    numberOfKeys: 3,
    lua: RELEASE_RUN,
  },
  /**
   * The end of a run and its releases, in one call: {@link sproutFinishRun} (KEYS 4-8: live,
   * taken, cancel, epoch, ended; ARGV[1]: run id), then {@link sproutReleaseRun} (KEYS 1-3, ARGV
   * 1-5). Returns the parked runs that now fit.
   */
  sproutEndRun: {
    numberOfKeys: 8,
    lua: `if redis.call('GET', KEYS[4]) == ARGV[1] then redis.call('DEL', KEYS[4]) end
redis.call('DEL', KEYS[5], KEYS[6], KEYS[7], KEYS[8])
${RELEASE_RUN}`,
  },
  /** Gives a run's lease back; returns the oldest parked runs that now fit (to promote). ARGV[3]: the grace of expired leases. */
  sproutReleaseSlot: {
    numberOfKeys: 2,
    lua: RELEASE_SLOT,
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

  /**
   * Claims the run for `owner` under a new epoch: `{ waitMs: 0, epoch }` when it is `owner`'s now,
   * else `{ waitMs, epoch: 0 }` with the ms until the other owner's claim expires.
   */
  async claimRun(runId: string, owner: string, ttlMs: number): Promise<{ waitMs: number; epoch: number }> {
    const answer = (await this.#call('sproutClaimRun', this.#keys.owner(runId), this.#keys.epoch(runId), owner, ttlMs)) as unknown[];
    return { waitMs: Number(answer[0]), epoch: Number(answer[1]) };
  }

  /**
   * Reads the child's live run and the run's cancel / halt / taken flags and, when the live run is
   * `runId`, claims it (as {@link claimRun}); `waitMs: -1` when the live run is another one (then
   * nothing is claimed). One round trip.
   */
  async takeRun(
    run: { runId: string; parentSessionId: string; childSessionId: string },
    owner: string,
    ttlMs: number,
  ): Promise<{ waitMs: number; epoch: number; live: string | null; cancel: string | null; halt: string | null; taken: string | null }> {
    const k = this.#keys;
    const answer = (await this.#call(
      'sproutTakeRun',
      k.owner(run.runId),
      k.epoch(run.runId),
      k.live(run.childSessionId),
      k.cancel(run.runId),
      k.halt(run.parentSessionId),
      k.taken(run.runId),
      owner,
      ttlMs,
      run.runId,
    )) as unknown[];
    const text = (value: unknown): string | null => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null);
    return {
      waitMs: Number(answer[0]),
      epoch: Number(answer[1]),
      live: text(answer[2]),
      cancel: text(answer[3]),
      halt: text(answer[4]),
      taken: text(answer[5]),
    };
  }

  /** The run is over: deletes the child's live key while it still names `runId`, and the run's taken / cancel / epoch keys. */
  async finishRun(runId: string, childSessionId: string): Promise<void> {
    const k = this.#keys;
    await this.#call('sproutFinishRun', k.live(childSessionId), k.taken(runId), k.cancel(runId), k.epoch(runId), k.ended(runId), runId);
  }

  /** Makes `runId` the child's live run unless another is live: `{ opened, live }` (the live run after the call). */
  async openRun(childSessionId: string, runId: string): Promise<{ opened: boolean; live: string }> {
    const answer = (await this.#call('sproutOpenRun', this.#keys.live(childSessionId), runId)) as unknown[];
    return { opened: Number(answer[0]) === 1, live: String(answer[1]) };
  }

  /**
   * Grants `owner`'s claim of `epoch` the right to publish the run's end: once per run, while it is
   * the child's live run; again only to a newer claim (the one granted before lost the run unclosed).
   */
  async claimEnd(run: { runId: string; childSessionId: string }, owner: string, epoch: number, ttlMs: number): Promise<boolean> {
    const k = this.#keys;
    const answer = await this.#call(
      'sproutClaimEnd',
      k.owner(run.runId),
      k.live(run.childSessionId),
      k.ended(run.runId),
      `${owner}|${epoch}`,
      run.runId,
      ttlMs,
    );
    return Number(answer) === 1;
  }

  /**
   * {@link acquireSlot}, and when admitted marks the run taken by `owner` for `takenTtlMs` (one
   * round trip): `'admitted'`, `'full'` (parked), or `'rebuilding'` when the slots are not known to
   * be intact (`slotsIntact` missing: a new deployment, or Redis lost its data) and nothing was
   * admitted until a reconciliation pass rebuilt them.
   */
  async admitRun(
    parentSessionId: string,
    runId: string,
    limit: number,
    leaseMs: number,
    graceMs: number,
    owner: string,
    takenTtlMs: number,
  ): Promise<'admitted' | 'full' | 'rebuilding'> {
    const k = this.#keys;
    const answer = await this.#call(
      'sproutSlotAndTake',
      k.slots(parentSessionId),
      k.parked(parentSessionId),
      k.taken(runId),
      k.slotsIntact,
      runId,
      limit,
      leaseMs,
      '1',
      graceMs,
      owner,
      takenTtlMs,
    );
    const code = Number(answer);
    return code === 1 ? 'admitted' : code === -1 ? 'rebuilding' : 'full';
  }

  /**
   * A run's releases in one round trip: its slot (when `slot`) and `owner`'s claim of `epoch`
   * (when `epoch > 0`). Resolves with the parked runs of the parent that now fit.
   */
  async releaseRun(
    run: { runId: string; parentSessionId: string },
    slot: boolean,
    limit: number,
    graceMs: number,
    owner: string,
    epoch: number,
  ): Promise<string[]> {
    const release = this.#releaseArgs(run, slot, limit, graceMs, owner, epoch);
    return parkedRuns(await this.#call('sproutReleaseRun', ...release.keys, ...release.argv));
  }

  /**
   * {@link finishRun} and {@link releaseRun} in one round trip, in that order: the run is over (the
   * child's live key goes while it names the run, and the run's markers), then `owner`'s claim of
   * `epoch` (when `epoch > 0`) and the run's slot (when `slot`) go back. Resolves with the parked
   * runs of the parent that now fit.
   */
  async endRun(
    run: { runId: string; parentSessionId: string; childSessionId: string },
    slot: boolean,
    limit: number,
    graceMs: number,
    owner: string,
    epoch: number,
  ): Promise<string[]> {
    const k = this.#keys;
    const release = this.#releaseArgs(run, slot, limit, graceMs, owner, epoch);
    const runKeys = [k.live(run.childSessionId), k.taken(run.runId), k.cancel(run.runId), k.epoch(run.runId), k.ended(run.runId)];
    return parkedRuns(await this.#call('sproutEndRun', ...release.keys, ...runKeys, ...release.argv));
  }

  /** The keys (slots, parked, owner) and arguments of {@link sproutReleaseRun}, which `sproutEndRun` shares. */
  #releaseArgs(
    run: { runId: string; parentSessionId: string },
    slot: boolean,
    limit: number,
    graceMs: number,
    owner: string,
    epoch: number,
  ): { keys: string[]; argv: (string | number)[] } {
    const k = this.#keys;
    return {
      keys: [k.slots(run.parentSessionId), k.parked(run.parentSessionId), k.owner(run.runId)],
      argv: [run.runId, limit, graceMs, epoch > 0 ? `${owner}|${epoch}` : '', slot ? '1' : '0'],
    };
  }

  /** Renews `owner`'s claim of epoch `epoch`; false when the run is not that claim's any more (taken over, or expired and gone). */
  async renewRun(runId: string, owner: string, epoch: number, ttlMs: number): Promise<boolean> {
    return Number(await this.#call('sproutRenewRun', this.#keys.owner(runId), `${owner}|${epoch}`, ttlMs)) === 1;
  }

  /** Moves the run's epoch counter past `floor` while `owner` still holds epoch `epoch`; resolves with the new epoch, or 0 when the claim is lost. */
  async raiseEpoch(runId: string, owner: string, epoch: number, floor: number, ttlMs: number): Promise<number> {
    return Number(
      await this.#call('sproutRaiseEpoch', this.#keys.owner(runId), this.#keys.epoch(runId), `${owner}|${epoch}`, floor, owner, ttlMs),
    );
  }

  /** Gives up the claim on the run (only `owner`'s own claim of that epoch). */
  async disownRun(runId: string, owner: string, epoch: number): Promise<void> {
    await this.#call('sproutDeleteIf', this.#keys.owner(runId), `${owner}|${epoch}`);
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
  async acquireSlot(
    parentSessionId: string,
    runId: string,
    limit: number,
    leaseMs: number,
    park: boolean,
    graceMs: number,
  ): Promise<boolean> {
    const answer = await this.#call(
      'sproutAcquireSlot',
      this.#keys.slots(parentSessionId),
      this.#keys.parked(parentSessionId),
      runId,
      limit,
      leaseMs,
      park ? '1' : '0',
      graceMs,
    );
    return Number(answer) === 1;
  }

  /** Frees the run's slot; resolves with the parked runs of the parent that now fit. */
  async releaseSlot(parentSessionId: string, runId: string, limit: number, graceMs: number): Promise<string[]> {
    const answer = await this.#call(
      'sproutReleaseSlot',
      this.#keys.slots(parentSessionId),
      this.#keys.parked(parentSessionId),
      runId,
      limit,
      graceMs,
    );
    return parkedRuns(answer);
  }

  /** Takes a run off the parent's parked list (it ended without a slot, or its job is gone). */
  async unpark(parentSessionId: string, runId: string): Promise<void> {
    await this.#redis.zrem(this.#keys.parked(parentSessionId), runId);
  }
}

/** The parked run ids a release script answers (anything else: none). */
function parkedRuns(answer: unknown): string[] {
  return Array.isArray(answer) ? answer.map(String) : [];
}
