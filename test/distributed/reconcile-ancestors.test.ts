// A grandchild whose queued job Redis lost (a failover that dropped the newest writes) is put back
// by a worker's reconciler with the running runs above its parent in its job (`ancestors`, the
// front door's own lookup), so once it runs on another worker than its parent its events still
// reach the root's stream wrapped once per level. Real Redis and PostgreSQL; waits on conditions.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME, redisKeys } from '../../src/distributed/keys.js';
import { runJobSchema } from '../../src/distributed/run-job.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { trackOpened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, storedEvents, streamProblems, until } from './support.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

/** Unwraps nested `sub_session_event`s: `parent>child@run` per level, and the innermost event. */
function unwrap(event: AgentEvent): { via: string[]; inner: AgentEvent } {
  const via: string[] = [];
  let inner = event;
  while (inner.type === 'sub_session_event') {
    via.push(`${inner.parent_session_id}>${inner.child_session_id}@${inner.run_id}`);
    inner = inner.event;
  }
  return { via, inner };
}

const answer = (id: string, content: string) => ({
  id: `${id}-answer`,
  role: 'assistant' as const,
  content,
  created_at: new Date().toISOString(),
});

/** What the test's agents share: the test's front door, the grandchild's spawn, where each session ran. */
interface Tree {
  front: DistributedScheduler;
  grandchild?: { childSessionId: string; runId: string };
  placed: Map<string, string>;
}

/**
 * root → child → grandchild. The root waits through its spawner (its slot is given back, so its
 * child runs on the same worker); the child spawns the grandchild at once and waits through the
 * test's front door (it keeps its slot: its worker, of concurrency 1, is full, so the grandchild's
 * job stays queued until another worker takes it).
 */
function threeLevels(worker: string, tree: Tree): AgentRuntime {
  return {
    async execute(session, request) {
      tree.placed.set(session.id, worker);
      if (session.kind === 'root') {
        await request.spawner!.spawnChild(session.id, { title: 'child', prompt: 'split it' });
        await request.spawner!.waitForChildren(session.id);
        session.messages.push(answer(session.id, 'tree done'));
        return;
      }
      if (session.spawn_depth === 1) {
        tree.grandchild = await request.spawner!.spawnChild(session.id, { title: 'grandchild', prompt: 'dig' });
        await tree.front.waitForChildren(session.id, { childSessionIds: [tree.grandchild.childSessionId] });
        session.messages.push(answer(session.id, 'child done'));
        return;
      }
      for (const content of ['deep 1', 'deep 2']) request.emit({ type: 'token', content });
      session.messages.push(answer(session.id, 'deep done'));
    },
  };
}

describe.skipIf(unavailable !== undefined)('Redis loses a queued grandchild: the reconciler puts it back with its ancestors', () => {
  it("the grandchild's events reach the root's stream wrapped twice, from another worker than its parent's", async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(RUN_QUEUE_NAME, { connection: redis, prefix });
    try {
      const tree: Tree = { front, placed: new Map() };
      const startWorker = async (name: string, fast: boolean): Promise<void> => {
        const worker = createWorker({
          redis: REDIS_URL,
          postgres: POSTGRES_URL,
          prefix,
          agent: threeLevels(name, tree),
          concurrency: 1,
          name,
          // The second worker reconciles often, and leaves a pending child alone for 2 s only.
          ...(fast ? { reconcileIntervalMs: 200, leaseMs: 1000 } : {}),
        });
        opened.workers.push(worker);
        await worker.start();
      };
      await startWorker('w1', false);
      await front.store.save(rootSession('R'));
      const rootStream: SessionEventEnvelope[] = [];
      front.events('R', { afterSeq: 0 }).subscribe((envelope) => rootStream.push(envelope));
      const { runId: rootRun } = await front.run('R', { message: 'grow a tree' });

      // The grandchild is queued (w1 is full: its child keeps its slot).
      await until(async () => tree.grandchild !== undefined && (await queue.getJob(tree.grandchild.runId)) !== undefined);
      const { childSessionId: D, runId: runD } = tree.grandchild!;
      const queued = runJobSchema.parse((await queue.getJob(runD))?.data);
      expect(queued.ancestors).toHaveLength(1);

      // Redis loses the newest writes: the grandchild's job and live key (and the reconciler lock
      // w1 took at its start). Everything else, the runs of the root and the child, stays.
      await queue.remove(runD);
      await redis.del(redisKeys(prefix).live(D), redisKeys(prefix).reconciler);
      expect(await queue.getJob(runD)).toBeUndefined();

      await startWorker('w2', true);
      await until(() => rootStream.some(({ event }) => event.type === 'complete' || event.type === 'error'));

      const [child] = await front.store.listChildren('R');
      const C = child!.id;
      const runC = child!.metadata.last_run_id;
      expect(tree.placed.get(C)).toBe('w1');
      expect(tree.placed.get(D)).toBe('w2');
      expect(rootStream.at(-1)?.event.type).toBe('complete');
      expect(new Set([rootRun, runC, runD]).size).toBe(3);
      // The job the reconciler put back carries the link above the grandchild's parent.
      const requeued = runJobSchema.parse((await queue.getJob(runD))?.data);
      expect(requeued.ancestors).toEqual([{ sessionId: C, parentSessionId: 'R', runId: runC }]);

      const stored = await storedEvents(prefix, 'R');
      expect(streamProblems(stored)).toEqual([]);
      const deep = stored.map((e) => unwrap(e.event)).filter((u) => u.via.length === 2);
      const tokens = deep.filter((u) => u.inner.type === 'token').map((u) => (u.inner as { content: string }).content);
      expect(tokens).toEqual(['deep 1', 'deep 2']);
      for (const u of deep) expect(u.via).toEqual([`R>${C}@${runC}`, `${C}>${D}@${runD}`]);
      expect(deep.map((u) => u.inner.type)).toContain('complete');
    } finally {
      await queue.close();
      redis.disconnect();
    }
  });
});
