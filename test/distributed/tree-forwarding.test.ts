// Tree forwarding across workers: a grandchild's stream reaches the root's wrapped once per level
// (root ← child ← grandchild) even when the grandchild runs on another worker than its parent, so
// the root's stream stays a resumable log of the whole tree. The front door puts the running runs
// above a run's parent in its job; the worker hands them to its embedded scheduler. Real Redis and
// PostgreSQL; waits on conditions.
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME } from '../../src/distributed/keys.js';
import { runJobSchema } from '../../src/distributed/run-job.js';
import { createWorker, type DistributedWorker } from '../../src/distributed/worker.js';
import { childSession, rootSession } from '../support/harness.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  createTestDeployment,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
  type TestDeployment,
} from './support.js';

const unavailable = await servicesUnavailable();

const opened: {
  deployments: TestDeployment[];
  fronts: DistributedScheduler[];
  workers: DistributedWorker[];
  closers: (() => Promise<unknown>)[];
} = {
  deployments: [],
  fronts: [],
  workers: [],
  closers: [],
};

afterEach(async () => {
  for (const worker of opened.workers.splice(0)) await worker.stop({ mode: 'cancel' });
  for (const close of opened.closers.splice(0)) await close();
  for (const front of opened.fronts.splice(0)) await front.stop();
  for (const deployment of opened.deployments.splice(0)) await deployment.cleanup();
});

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

/**
 * root → child → grandchild. The root waits through its spawner (its slot is given back, so its
 * child runs on the same worker); the child waits through the test's front door instead (it keeps
 * its slot: its worker is full, so the grandchild runs on the other worker). The child spawns
 * once `gate` opens; `placed` records which worker ran each session.
 */
function threeLevels(
  worker: string,
  tree: { front?: DistributedScheduler; gate: Promise<void>; placed: Map<string, string> },
): AgentRuntime {
  return {
    async execute(session, request) {
      tree.placed.set(session.id, worker);
      if (session.kind === 'root') {
        request.emit({ type: 'token', content: 'planning' });
        await request.spawner!.spawnChild(session.id, { title: 'child', prompt: 'split it' });
        await request.spawner!.waitForChildren(session.id);
        session.messages.push(answer(session.id, 'tree done'));
        return;
      }
      if (session.spawn_depth === 1) {
        await tree.gate;
        request.emit({ type: 'token', content: 'child working' });
        const { childSessionId } = await request.spawner!.spawnChild(session.id, { title: 'grandchild', prompt: 'dig' });
        await tree.front!.waitForChildren(session.id, { childSessionIds: [childSessionId] });
        session.messages.push(answer(session.id, 'child done'));
        return;
      }
      for (const content of ['deep 1', 'deep 2', 'deep 3']) request.emit({ type: 'token', content });
      session.messages.push(answer(session.id, 'deep done'));
    },
  };
}

function follow(front: DistributedScheduler, sessionId: string): SessionEventEnvelope[] {
  const seen: SessionEventEnvelope[] = [];
  front.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
  return seen;
}

describe.skipIf(unavailable !== undefined)('tree forwarding across workers', () => {
  it("a grandchild on another worker than its parent reaches the root's stream wrapped twice, once, in seq order", async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    let openGate = (): void => {};
    const tree = { front, gate: new Promise<void>((resolve) => (openGate = resolve)), placed: new Map<string, string>() };
    const startWorker = async (name: string): Promise<void> => {
      const worker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: threeLevels(name, tree),
        concurrency: 1,
        name,
      });
      opened.workers.push(worker);
      await worker.start();
    };
    await startWorker('w1');
    await front.store.save(rootSession('R'));
    const rootStream = follow(front, 'R');

    const { runId: rootRun } = await front.run('R', { message: 'grow a tree' });
    // The child runs on w1 (the root gave its slot back); w1 is full while the child runs.
    await until(() => [...tree.placed.values()].length === 2);
    await startWorker('w2');
    openGate();
    await until(() => rootStream.some(({ event }) => event.type === 'complete' || event.type === 'error'));

    const [child] = await front.store.listChildren('R');
    const [grandchild] = await front.store.listChildren(child!.id);
    const C = child!.id;
    const D = grandchild!.id;
    expect(tree.placed.get('R')).toBe('w1');
    expect(tree.placed.get(C)).toBe('w1');
    expect(tree.placed.get(D)).toBe('w2');
    expect(rootStream.at(-1)?.event.type).toBe('complete');
    const runC = child!.metadata.last_run_id;
    const runD = grandchild!.metadata.last_run_id;
    expect(new Set([rootRun, runC, runD]).size).toBe(3);

    const stored = await storedEvents(prefix, 'R');
    // What a subscriber saw live is what the log holds: one seq, strictly increasing, no gap.
    expect(rootStream).toEqual(stored);
    expect(stored.map((e) => e.seq)).toEqual(stored.map((_, i) => i + 1));
    expect(streamProblems(stored)).toEqual([]);
    // The grandchild's own events: on the root's stream wrapped twice under the right runs, each once.
    const deep = stored.map((e) => unwrap(e.event)).filter((u) => u.via.length === 2);
    const tokens = deep.filter((u) => u.inner.type === 'token');
    expect(tokens.map((u) => (u.inner as { content: string }).content)).toEqual(['deep 1', 'deep 2', 'deep 3']);
    for (const u of deep) expect(u.via).toEqual([`R>${C}@${runC}`, `${C}>${D}@${runD}`]);
    expect(deep.map((u) => u.inner.type)).toContain('complete');
    // The grandchild's start and completion (published on the child's stream) once more wrapped.
    const aboutD = stored
      .map((e) => unwrap(e.event))
      .filter((u) => u.via.length === 1 && 'child_session_id' in u.inner && u.inner.child_session_id === D);
    const lifecycle = aboutD.map((u) => u.inner.type).filter((type) => type !== 'sub_session_heartbeat');
    expect(lifecycle).toEqual(['sub_session_started', 'sub_session_completed']);
    expect(aboutD.every((u) => u.via[0] === `R>${C}@${runC}`)).toBe(true);
    // The child's stream: the grandchild's events wrapped once.
    const childTokens = (await storedEvents(prefix, C))
      .map((e) => unwrap(e.event))
      .filter((u) => u.inner.type === 'token' && u.via.length === 1);
    expect(childTokens.map((u) => u.via[0])).toEqual([`${C}>${D}@${runD}`, `${C}>${D}@${runD}`, `${C}>${D}@${runD}`]);
  });

  it('the front door puts the running runs above the parent in the job, and none under a root', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix });
    opened.fronts.push(front);
    await front.start();
    const connection = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    const queue = new Queue(RUN_QUEUE_NAME, { connection, prefix });
    opened.closers.push(async () => {
      await queue.close();
      connection.disconnect();
    });
    const running = (runId: string) => ({ metadata: { last_run_status: 'running', last_run_id: runId } });
    await front.store.save(rootSession('R'));
    await front.store.save(childSession('C', 'R', { root_session_id: 'R', ...running('run-c') }));
    await front.store.save(childSession('D', 'C', { root_session_id: 'R', spawn_depth: 2, ...running('run-d') }));
    await front.store.save(childSession('E', 'D', { root_session_id: 'R', spawn_depth: 3 }));
    await front.store.save(childSession('C2', 'R', { root_session_id: 'R' }));
    const jobOf = async (runId: string) => runJobSchema.parse((await queue.getJob(runId))?.data);

    const underRoot = await front.enqueue({ parentSessionId: 'R', childSessionId: 'C2', model: 'm' });
    expect((await jobOf(underRoot.runId)).ancestors).toBeUndefined();
    const spawned = await front.spawnChild('R', { title: 'x', prompt: 'y' });
    expect((await jobOf(spawned.runId)).ancestors).toBeUndefined();

    const links = [
      { sessionId: 'D', parentSessionId: 'C', runId: 'run-d' },
      { sessionId: 'C', parentSessionId: 'R', runId: 'run-c' },
    ];
    const queued = await front.enqueue({ parentSessionId: 'D', childSessionId: 'E', model: 'm' });
    expect((await jobOf(queued.runId)).ancestors).toEqual(links);
    const deeper = await front.spawnChild('D', { title: 'x', prompt: 'y' });
    expect((await jobOf(deeper.runId)).ancestors).toEqual(links);
    const again = await front.run('C2', { message: 'again?' }).catch((error: unknown) => error);
    expect(again).toBeInstanceOf(Error); // C2 still has its queued run
    // A message to a grandchild: the links start at its parent.
    await front.store.save(childSession('D2', 'C', { root_session_id: 'R', spawn_depth: 2 }));
    const message = await front.run('D2', { message: 'more' });
    expect((await jobOf(message.runId)).ancestors).toEqual([links[1]]);
    // A parent that is not running ends the chain where it is.
    await front.store.save(
      childSession('C3', 'R', { root_session_id: 'R', metadata: { last_run_status: 'completed', last_run_id: 'old' } }),
    );
    await front.store.save(childSession('D3', 'C3', { root_session_id: 'R', spawn_depth: 2 }));
    const idle = await front.enqueue({ parentSessionId: 'C3', childSessionId: 'D3', model: 'm' });
    expect((await jobOf(idle.runId)).ancestors).toBeUndefined();
  });
});
