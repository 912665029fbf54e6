import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { SessionStore } from '../api/ports.js';
import { ON_PARENT_END_KEY } from '../core/on-parent-end.js';
import type { RedisKeys } from './keys.js';

/** How long a cancel request is kept for a run that has not been taken yet (a week). */
const CANCEL_TTL_MS = 7 * 24 * 3600 * 1000;

/** How long a cancelled tree stays marked (`halt:<session>`) by default: 10 minutes. */
export const DEFAULT_CANCEL_TREE_HOLD_MS = 10 * 60_000;

/** What {@link createTreeCanceller} needs. */
export interface TreeCancellerDeps {
  redis: () => Redis;
  queue: () => Queue;
  store: Pick<SessionStore, 'listChildren'>;
  keys: RedisKeys;
  /** How long a session of a cancelled tree stays marked. */
  holdMs: number;
  /** Runs a Redis call, turning its failure into the caller's error. */
  onRedis: <T>(what: string, call: () => Promise<T>) => Promise<T>;
}

/** Cancels distributed runs: one child's, or a whole subtree's. */
export interface TreeCanceller {
  /** Sets the run's durable cancel flag and pushes it to every worker; `true` when the child had a run. */
  cancelRun(childSessionId: string, reason: CompletionReason): Promise<boolean>;
  /**
   * Cancels the queued or running descendants of `sessionId` with `reason`, level by level, each
   * marked (`halt`, for `holdMs`) before its own children are listed, so a child created after the
   * listing finds its parent marked when a worker takes its run (and ends `cancelled`, reason
   * `parent`, without running). `everything` (`cancelTree`) reaches every descendant; otherwise (a
   * parent's run ended `cancelled` or `error`) a child spawned with `onParentEnd: 'abandon'` is
   * left running with its whole subtree. Resolves with how many runs it cancelled.
   */
  cancelSubtree(sessionId: string, reason: CompletionReason, everything: boolean): Promise<number>;
  /** Marks the session halted: the runs of children spawned under it from now on end `cancelled` (reason `parent`). */
  halt(sessionId: string): Promise<void>;
}

/**
 * The cancellation of distributed mode, shared by the front door (`cancel`, `cancelTree`) and
 * the workers (a parent's run that ended `cancelled` or `error` reaches its subtree, as in
 * embedded mode).
 *
 * @example
 * const canceller = createTreeCanceller({ redis: () => redis, queue: () => queue, store, keys, holdMs: 600_000, onRedis });
 * await canceller.cancelSubtree('root', 'parent', true);
 */
export function createTreeCanceller(deps: TreeCancellerDeps): TreeCanceller {
  const { keys, onRedis } = deps;

  const cancelRun = async (childSessionId: string, reason: CompletionReason): Promise<boolean> => {
    const r = deps.redis();
    const q = deps.queue();
    const runId = await onRedis(`reading the live run of ${childSessionId}`, () => r.get(keys.live(childSessionId)));
    if (runId === null) return false;
    await onRedis(`cancelling run ${runId}`, () =>
      r.multi().set(keys.cancel(runId), reason, 'PX', CANCEL_TTL_MS).publish(keys.cancelChannel, JSON.stringify({ runId, reason })).exec(),
    );
    // A run waiting for a slot of its parent ends at once (it needs none) instead of at its next retry.
    void (async () => {
      const job = await q.getJob(runId);
      if (job && (await job.getState()) === 'delayed') await job.promote();
    })().catch(() => undefined);
    return true;
  };

  const childrenReached = async (sessionId: string, everything: boolean): Promise<string[]> =>
    (await deps.store.listChildren(sessionId))
      .filter((child) => everything || child.metadata[ON_PARENT_END_KEY] !== 'abandon')
      .map((child) => child.id);

  return {
    cancelRun,

    async halt(sessionId) {
      const r = deps.redis();
      await onRedis(`marking ${sessionId} halted`, () => r.set(keys.halt(sessionId), 'parent', 'PX', deps.holdMs));
    },

    async cancelSubtree(sessionId, reason, everything) {
      const r = deps.redis();
      const seen = new Set<string>([sessionId]);
      let frontier = (await childrenReached(sessionId, everything)).filter((id) => !seen.has(id));
      let cancelled = 0;
      while (frontier.length > 0) {
        for (const id of frontier) seen.add(id);
        const marking = r.multi();
        for (const id of frontier) marking.set(keys.halt(id), 'parent', 'PX', deps.holdMs);
        await onRedis('marking a cancelled tree', () => marking.exec());
        for (const id of frontier) if (await cancelRun(id, reason)) cancelled++;
        const next: string[] = [];
        for (const id of frontier) {
          for (const child of await childrenReached(id, everything)) if (!seen.has(child)) next.push(child);
        }
        frontier = next;
      }
      return cancelled;
    },
  };
}
