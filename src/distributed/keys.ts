import { createHash } from 'node:crypto';
import { SproutValidationError } from '../errors.js';

/** The BullMQ queue that holds every run of a deployment (its prefix is the deployment's). */
export const RUN_QUEUE_NAME = 'runs';

/** A deployment prefix: also the PostgreSQL schema, so the same rules (`[a-z_][a-z0-9_]*`, ≤ 48, not `pg_…`). */
const PREFIX_PATTERN = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * Checks a deployment prefix (Redis key prefix, BullMQ queue prefix and PostgreSQL schema at once).
 *
 * @example
 * validatePrefix('sprout_prod'); // 'sprout_prod'
 */
export function validatePrefix(prefix: string): string {
  if (!PREFIX_PATTERN.test(prefix) || prefix.startsWith('pg_')) {
    throw new SproutValidationError('distributed prefix', [
      {
        code: 'custom',
        path: ['prefix'],
        message: `"${prefix}" is not a valid prefix: lowercase letters, digits and _, starting with a letter or _, at most 48 characters, not pg_…`,
        input: prefix,
      },
    ]);
  }
  return prefix;
}

/**
 * Every Redis key Sprout's distributed mode uses besides BullMQ's own (`<prefix>:runs:…`), all
 * under `<prefix>:sprout:`.
 *
 * @example
 * const keys = redisKeys('sprout'); keys.live('child-1'); // 'sprout:sprout:live:child-1'
 */
export function redisKeys(prefix: string) {
  const base = `${prefix}:sprout`;
  return {
    /** The run id of the child's queued or running run (set at enqueue, removed when it ends): de-duplication and cancel. */
    live: (childSessionId: string) => `${base}:live:${childSessionId}`,
    /** A worker went as far as announcing the run (so a re-delivery checks the log before running it again). */
    taken: (runId: string) => `${base}:taken:${runId}`,
    /** The worker that owns the run right now (expires when it dies). */
    owner: (runId: string) => `${base}:owner:${runId}`,
    /** The last ownership epoch handed out for a run (the fencing token's counter). */
    epoch: (runId: string) => `${base}:epoch:${runId}`,
    /** Set once by the owner that claimed the right to publish the run's end (`RunOwnership.claimEnd`). */
    ended: (runId: string) => `${base}:ended:${runId}`,
    /** Held by the worker reconciling the queue with PostgreSQL (one at a time). */
    reconciler: `${base}:reconciler`,
    /**
     * Set by a reconciliation pass once every run open in PostgreSQL holds its per-parent slot:
     * while it is missing (a new deployment, or Redis lost its data) no run is admitted, so an
     * empty slot set never lets a parent's runs past its limit.
     */
    slotsIntact: `${base}:slots-intact`,
    /** The durable cancel request of a run: its reason. */
    cancel: (runId: string) => `${base}:cancel:${runId}`,
    /** The session is in a tree `cancelTree` cancelled: runs of its children end `cancelled` (reason `parent`). */
    halt: (sessionId: string) => `${base}:halt:${sessionId}`,
    /** Per-parent admission: ZSET of run ids with lease expiry scores. */
    slots: (parentSessionId: string) => `${base}:slots:${parentSessionId}`,
    /** Runs of the parent waiting for a slot, oldest first (promoted when one frees). */
    parked: (parentSessionId: string) => `${base}:parked:${parentSessionId}`,
    /** Pub/sub channel: cancel requests pushed to every worker. */
    cancelChannel: `${base}:cancel`,
    /** The session's tree is being deleted: no run is queued for it or under it (`deleteSession`). */
    deleting: (sessionId: string) => `${base}:deleting:${sessionId}`,
    /** The bounded queue: ZSET of the runs the front doors queued, scored with their enqueue time (pruned once started). */
    queued: `${base}:queued`,
    /** Where BullMQ keeps the job of a run (a hash; `processedOn` set once a worker took it). */
    runJob: (runId: string) => `${prefix}:${RUN_QUEUE_NAME}:${runId}`,
  };
}

/** The Redis keys of one deployment. */
export type RedisKeys = ReturnType<typeof redisKeys>;

/**
 * The run id a run gets when `recover: 'requeue'` runs its child again after its worker was lost:
 * derived from the lost run's id, so that doing it twice (a worker dying in the middle of it) makes
 * the same run, which BullMQ de-duplicates by job id.
 *
 * @example
 * requeuedRunId('3f1c…'); // always the same uuid-shaped id for the same input
 */
export function requeuedRunId(runId: string): string {
  const hex = createHash('sha256').update(`${runId}\nrequeue`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
