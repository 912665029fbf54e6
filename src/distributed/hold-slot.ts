import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/**
 * Puts a run's per-parent slot back in its parent's lease set, when missing, as a lease that
 * expired at `nowMs`: it stays counted against the parent's limit for `graceMs` (the workers'
 * slot grace) unless whoever closes the run frees it first. For a run that is open in PostgreSQL
 * while Redis lost its slot (Redis lost its data): the limit holds until the run is closed.
 * Resolves with whether the slot was missing.
 *
 * @example
 * await holdSlot(redis, keys, 'parent-1', 'run-7', Date.now(), 180_000);
 */
export async function holdSlot(
  redis: Redis,
  keys: RedisKeys,
  parentSessionId: string,
  runId: string,
  nowMs: number,
  graceMs: number,
): Promise<boolean> {
  const slots = keys.slots(parentSessionId);
  if ((await redis.zadd(slots, 'NX', nowMs, runId)) === 0) return false;
  // The set lives at least as long as the slot is counted.
  if ((await redis.pttl(slots)) < graceMs * 2) await redis.pexpire(slots, graceMs * 2);
  return true;
}
