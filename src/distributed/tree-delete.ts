import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { firstValueFrom, timer } from 'rxjs';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import type { FrontDoorScripts } from './front-door-scripts.js';
import type { RedisKeys } from './keys.js';
import type { RedisScripts } from './redis-scripts.js';

/** What {@link deleteTree} needs of a running front door. */
export interface TreeDeleteContext {
  readonly store: PostgresSessionStore;
  readonly log: PostgresEventLog;
  readonly redis: Redis;
  readonly queue: Queue;
  readonly scripts: RedisScripts;
  readonly frontDoor: FrontDoorScripts;
  readonly keys: RedisKeys;
  /** How long the tree stays marked (`deleting:` and `halt:` keys), in ms. */
  readonly holdMs: number;
  /** Runs a Redis call, turning its failure into `QueueUnavailableError`. */
  readonly onRedis: <T>(what: string, call: () => Promise<T>) => Promise<T>;
}

interface Member {
  id: string;
  parentSessionId: string | undefined;
}

/**
 * Deletes a session and every session below it, atomically against concurrent spawns:
 *
 * 1. level by level from the session, each session is marked `deleting:` (no run is admitted for
 *    it or under it any more: `spawnChild` / `enqueue` answer `SessionNotFoundError`) and `halt:`
 *    (a worker that takes a run of its children ends it `cancelled`) **before** its children are
 *    listed, so a child saved by a spawn that got in before the mark is listed;
 * 2. every run of the tree is cancelled (reason `deleted`); a run no worker holds is taken out of
 *    the queue (its BullMQ job removed, its live key deleted: a worker never starts it); the
 *    delete waits for the runs a worker holds to end (their live key goes once their completion is
 *    committed, so nothing of them is written afterwards);
 * 3. the sessions and their streams are deleted, deepest first.
 *
 * Resolves with whether the session itself existed.
 */
export async function deleteTree(ctx: TreeDeleteContext, sessionId: string): Promise<boolean> {
  const { store, keys, onRedis } = ctx;
  const root = await store.load(sessionId);
  const levels: Member[][] = [];
  const seen = new Set<string>([sessionId]);
  let frontier: Member[] = [{ id: sessionId, parentSessionId: root?.parent_session_id }];
  while (frontier.length > 0) {
    levels.push(frontier);
    const marking = ctx.redis.multi();
    for (const { id } of frontier) {
      marking.set(keys.deleting(id), 'deleted', 'PX', ctx.holdMs);
      marking.set(keys.halt(id), 'parent', 'PX', ctx.holdMs);
    }
    await onRedis('marking a deleted tree', () => marking.exec());
    const next: Member[] = [];
    for (const { id } of frontier) {
      for (const child of await store.listChildren(id)) {
        if (seen.has(child.id)) continue;
        seen.add(child.id);
        next.push({ id: child.id, parentSessionId: id });
      }
    }
    frontier = next;
  }
  const members = levels.flat();
  const lives = await onRedis('reading live runs', () => ctx.redis.mget(members.map((member) => keys.live(member.id))));
  const held: { member: Member; runId: string }[] = [];
  for (const [i, member] of members.entries()) {
    const runId = lives[i];
    if (runId === null || runId === undefined) continue;
    await cancel(ctx, runId);
    if (!(await takeOutOfQueue(ctx, member, runId))) held.push({ member, runId });
  }
  // The runs a worker holds end soon (cancelled); one it puts back in the queue is taken out then.
  for (let round = 0; held.length > 0; round++) {
    await firstValueFrom(timer(Math.min(1000, 50 * 2 ** Math.min(round, 5))));
    const live = await onRedis('reading live runs', () => ctx.redis.mget(held.map(({ member }) => keys.live(member.id))));
    for (let i = held.length - 1; i >= 0; i--) {
      const entry = held[i]!;
      const now = live[i] ?? null;
      if (now !== null && now !== entry.runId) {
        // A worker requeued the run under a new id (`recover: 'requeue'`): that one goes too.
        entry.runId = now;
        await cancel(ctx, now);
      }
      if (now === null || (await takeOutOfQueue(ctx, entry.member, entry.runId))) held.splice(i, 1);
    }
  }
  let deleted = false;
  for (const level of levels.reverse()) {
    for (const { id } of level) {
      const existed = await store.delete(id);
      await ctx.log.deleteSession(id);
      if (id === sessionId) deleted = existed;
    }
  }
  return deleted;
}

/** Sets the run's cancel flag (reason `deleted`) and pushes it to the worker that may hold it. */
async function cancel(ctx: TreeDeleteContext, runId: string): Promise<void> {
  await ctx.onRedis(`cancelling run ${runId}`, () =>
    ctx.redis
      .multi()
      .set(ctx.keys.cancel(runId), 'deleted', 'PX', ctx.holdMs)
      .publish(ctx.keys.cancelChannel, JSON.stringify({ runId, reason: 'deleted' }))
      .exec(),
  );
}

/**
 * Removes the run's BullMQ job unless a worker holds it (BullMQ refuses to remove a locked job),
 * then the child's live run: a worker that gets the job after all finds another live run and
 * drops it. `true` when the run is out of the queue (or its job was already gone).
 */
async function takeOutOfQueue(ctx: TreeDeleteContext, member: Member, runId: string): Promise<boolean> {
  const removed = await ctx.onRedis(`removing run ${runId}`, () => ctx.queue.remove(runId));
  if (removed !== 1) return false;
  await ctx.onRedis(`removing run ${runId}`, async () => {
    await ctx.scripts.deleteIf(ctx.keys.live(member.id), runId);
    await ctx.frontDoor.forget(runId);
    const cleanup = ctx.redis.multi().del(ctx.keys.cancel(runId));
    if (member.parentSessionId !== undefined) cleanup.zrem(ctx.keys.parked(member.parentSessionId), runId);
    await cleanup.exec();
  });
  return true;
}
