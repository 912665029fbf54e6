// Distributed mode in one process against the real Redis and PostgreSQL: a front door and two
// workers, each test on its own prefix (Redis keys, BullMQ queue, PostgreSQL schema), cleaned up.
// Limits are counted from the agents' side; every parent stream is checked for contiguous seq and
// exactly one start and one completion per run. Tests wait on conditions, never on time.
import type { InspectionEvent } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker, type DistributedWorker, type DistributedWorkerOptions } from '../../src/distributed/worker.js';
import { SproutValidationError } from '../../src/errors.js';
import { rootSession } from '../support/harness.js';
import { createProbe, type Probe } from './probe-agent.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  listRedisKeys,
  createTestDeployment,
  type TestDeployment,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

/** What one test opened, closed afterwards whatever happened. */
const opened = trackOpened();

function deployment(): TestDeployment {
  const made = createTestDeployment();
  opened.deployments.push(made);
  return made;
}

async function frontDoor(prefix: string, concurrency?: number): Promise<DistributedScheduler> {
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, concurrency, eventRetention: 100_000 });
  opened.fronts.push(front);
  await front.start();
  return front;
}

function worker(prefix: string, probe: Probe, name: string, extra: Partial<DistributedWorkerOptions> = {}): DistributedWorker {
  const made = createWorker({
    redis: REDIS_URL,
    postgres: POSTGRES_URL,
    prefix,
    agent: probe.agent(name),
    concurrency: 3,
    perParentConcurrency: 2,
    heartbeatIntervalMs: 200,
    eventRetention: 100_000,
    admissionRetryMs: 300,
    name,
    ...extra,
  });
  opened.workers.push(made);
  return made;
}

/** Collects a session's stream from the front door from seq 1. */
function follow(front: DistributedScheduler, sessionId: string): SessionEventEnvelope[] {
  const seen: SessionEventEnvelope[] = [];
  front.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
  return seen;
}

describe.skipIf(unavailable !== undefined)('distributed mode in one process (front door + two workers)', () => {
  it('runs children of several parents on two workers within the global and per-parent limits, one start and one end per run', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix, 4);
    const probe = createProbe();
    probe.close();
    const workers = [worker(prefix, probe, 'w1'), worker(prefix, probe, 'w2')];
    await Promise.all(workers.map((w) => w.start()));
    const parents = ['p1', 'p2', 'p3'];
    for (const id of parents) await front.store.save(rootSession(id));
    const streams = new Map(parents.map((id) => [id, follow(front, id)]));

    const spawned = new Map<string, string[]>();
    for (const parent of parents) {
      const ids: string[] = [];
      for (let i = 1; i <= 6; i++)
        ids.push((await front.spawnChild(parent, { title: `${parent} child ${i}`, prompt: `Do ${i}` })).childSessionId);
      spawned.set(parent, ids);
    }
    // The gate holds every agent: wait until the global limit is reached, then let them all go.
    await until(() => probe.running === 4);
    expect([...probe.maxByParent.values()].every((n) => n <= 2)).toBe(true);
    probe.open();

    for (const parent of parents) {
      const summaries = await front.waitForChildren(parent, { childSessionIds: spawned.get(parent)! });
      expect(summaries.map((s) => s.status)).toEqual(Array(6).fill('completed'));
      expect(summaries.map((s) => s.result)).toEqual(spawned.get(parent)!.map((_, i) => `Done: ${parent} child ${i + 1}`));
    }
    expect(probe.maxRunning).toBe(4);
    for (const parent of parents) expect(probe.maxByParent.get(parent)).toBeLessThanOrEqual(2);
    expect(probe.calls).toHaveLength(18);

    for (const parent of parents) {
      const stored = await storedEvents(prefix, parent);
      expect(streamProblems(stored)).toEqual([]);
      expect(completionsOf(stored)).toHaveLength(6);
      expect(stored.some((e) => e.event.type === 'sub_session_heartbeat')).toBe(true);
      const seen = streams.get(parent)!;
      await until(() => seen.length >= stored.length);
      expect(seen).toEqual(stored);
    }
    expect(await openRunIds(prefix)).toEqual([]);
    const child = await front.getChild(spawned.get('p1')![0]!);
    expect(child).toMatchObject({ status: 'completed', result: 'Done: p1 child 1' });
  });

  it('cancels a run before it starts (the agent never runs) and a running run on another process', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix);
    const probe = createProbe();
    await front.store.save(rootSession('root'));

    // No worker yet: the run waits in the queue, and the cancel is waiting for it.
    const early = await front.spawnChild('root', { title: 'early', prompt: 'never runs' });
    expect(await front.cancel(early.childSessionId)).toBe(true);
    expect(await front.getChild(early.childSessionId)).toMatchObject({ status: 'queued', runId: early.runId });
    const workers = [worker(prefix, probe, 'w1'), worker(prefix, probe, 'w2')];
    await Promise.all(workers.map((w) => w.start()));
    const [first] = await front.waitForChildren('root', { childSessionIds: [early.childSessionId] });
    expect(first).toMatchObject({ status: 'cancelled', runId: early.runId });
    expect(probe.callOf(early.childSessionId)).toBeUndefined();

    const running = await front.spawnChild('root', { title: 'hang on', prompt: 'wait for the cancel' });
    await until(() => probe.callOf(running.childSessionId) !== undefined);
    expect(await front.cancel(running.childSessionId)).toBe(true);
    const [second] = await front.waitForChildren('root', { childSessionIds: [running.childSessionId] });
    expect(second).toMatchObject({ status: 'cancelled', runId: running.runId });
    expect(probe.callOf(running.childSessionId)?.signal.aborted).toBe(true);

    const stored = await storedEvents(prefix, 'root');
    expect(streamProblems(stored)).toEqual([]);
    expect(completionsOf(stored).map((c) => [c.run_id, c.status, c.reason])).toEqual([
      [early.runId, 'cancelled', 'user'],
      [running.runId, 'cancelled', 'user'],
    ]);
    expect(await front.cancel(running.childSessionId)).toBe(false);
    expect(await openRunIds(prefix)).toEqual([]);

    // events() without afterSeq is live only; an afterSeq past the end is refused.
    const live: SessionEventEnvelope[] = [];
    const subscription = front.events('root').subscribe((envelope) => live.push(envelope));
    const pastEnd = await new Promise<unknown>((resolve) =>
      front.events('root', { afterSeq: stored.length + 5 }).subscribe({ error: resolve }),
    );
    expect(pastEnd).toBeInstanceOf(SproutValidationError);
    const more = await front.spawnChild('root', { title: 'one more', prompt: 'go' });
    await front.waitForChildren('root', { childSessionIds: [more.childSessionId] });
    await until(() => live.some((envelope) => envelope.event.type === 'sub_session_completed'));
    subscription.unsubscribe();
    // Nothing from before the subscription, then contiguous.
    expect(live[0]!.seq).toBeGreaterThan(stored.length);
    expect(live.every((envelope, i) => envelope.seq === live[0]!.seq + i)).toBe(true);
  });

  it('cancelTree cancels the running subtree and a grandchild spawned while it was being cancelled', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix);
    const probe = createProbe();
    const spawnedOnAbort: Promise<{ childSessionId: string; runId: string }>[] = [];
    const grandchildren: Promise<{ childSessionId: string; runId: string }>[] = [];
    // A child titled "hang parent" spawns a grandchild when it starts, and another one as it is cancelled.
    const agentFor = (name: string) => {
      const base = probe.agent(name, (session) => {
        if (session.title === 'hang parent')
          spawnedOnAbort.push(front.spawnChild(session.id, { title: 'slipped grandchild', prompt: 'too late' }));
      });
      return {
        execute: (session: Parameters<typeof base.execute>[0], request: Parameters<typeof base.execute>[1]) => {
          if (session.title === 'hang parent')
            grandchildren.push(front.spawnChild(session.id, { title: 'hang grandchild', prompt: 'wait' }));
          return base.execute(session, request);
        },
      };
    };
    const workers = ['w1', 'w2'].map((name) =>
      createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: agentFor(name),
        concurrency: 3,
        eventRetention: 100_000,
        name,
      }),
    );
    opened.workers.push(...workers);
    await Promise.all(workers.map((w) => w.start()));
    await front.store.save(rootSession('root'));
    const a = await front.spawnChild('root', { title: 'hang parent', prompt: 'spawn and wait' });
    const b = await front.spawnChild('root', { title: 'hang sibling', prompt: 'wait' });
    await until(() => grandchildren.length === 1);
    const g1 = await grandchildren[0]!;
    await until(() => [a, b, g1].every((run) => probe.callOf(run.childSessionId) !== undefined));

    // A, B and the first grandchild; and the slipped grandchild too when it was already saved when its parent's children were listed.
    expect(await front.cancelTree('root')).toBeGreaterThanOrEqual(3);
    await until(() => spawnedOnAbort.length === 1);
    const slipped = await spawnedOnAbort[0]!;
    const rootEnds = await front.waitForChildren('root', { childSessionIds: [a.childSessionId, b.childSessionId] });
    expect(rootEnds.map((s) => [s.status])).toEqual([['cancelled'], ['cancelled']]);
    const aEnds = await front.waitForChildren(a.childSessionId, { childSessionIds: [g1.childSessionId, slipped.childSessionId] });
    expect(aEnds.map((s) => s.status)).toEqual(['cancelled', 'cancelled']);
    expect(probe.callOf(slipped.childSessionId)).toBeUndefined();

    for (const session of ['root', a.childSessionId]) {
      const stored = await storedEvents(prefix, session);
      expect(streamProblems(stored)).toEqual([]);
      expect(completionsOf(stored).map((c) => c.reason)).toEqual(['parent', 'parent']);
    }
    expect(await openRunIds(prefix)).toEqual([]);
  });

  it('deleteSession cancels the session and its subtree (reason deleted), waits for their runs, then deletes the whole tree', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix);
    const probe = createProbe();
    const w = worker(prefix, probe, 'w1');
    await w.start();
    await front.store.save(rootSession('root'));
    const child = await front.spawnChild('root', { title: 'hang child', prompt: 'wait' });
    const grandchild = await front.spawnChild(child.childSessionId, { title: 'hang grandchild', prompt: 'wait' });
    await until(() => probe.callOf(child.childSessionId) !== undefined && probe.callOf(grandchild.childSessionId) !== undefined);

    expect(await front.deleteSession(child.childSessionId)).toBe(true);
    expect(await front.store.load(child.childSessionId)).toBeUndefined();
    // A tree delete (issue 19): the grandchild's run ended before its session and stream went too.
    expect(await front.store.load(grandchild.childSessionId)).toBeUndefined();
    expect(probe.callOf(child.childSessionId)?.signal.aborted).toBe(true);
    expect(probe.callOf(grandchild.childSessionId)?.signal.aborted).toBe(true);
    expect(completionsOf(await storedEvents(prefix, 'root')).map((c) => [c.run_id, c.status, c.reason])).toEqual([
      [child.runId, 'cancelled', 'deleted'],
    ]);
    expect(await storedEvents(prefix, child.childSessionId)).toEqual([]);
  });

  it('passes inspect through: the worker runs the same scheduler actor and job actors as embedded mode', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix);
    const probe = createProbe();
    const inspected: InspectionEvent[] = [];
    const w = worker(prefix, probe, 'w1', { inspect: (event) => inspected.push(event) });
    await w.start();
    await front.store.save(rootSession('root'));
    const { childSessionId } = await front.spawnChild('root', { title: 'inspected', prompt: 'go' });
    await front.waitForChildren('root', { childSessionIds: [childSessionId] });
    const machines = new Set(
      inspected.filter((e) => e.type === '@xstate.actor').map((e) => (e.actorRef as { logic?: { id?: string } }).logic?.id ?? '?'),
    );
    expect(machines).toContain('spawnScheduler');
    expect(machines).toContain('spawnJob');
    expect(w.scheduler.actor.getSnapshot().value).toBe('accepting');
  });

  it('closes its connections and leaves only what it must in Redis once runs are done', async () => {
    const { prefix } = deployment();
    const front = await frontDoor(prefix);
    const probe = createProbe();
    const w = worker(prefix, probe, 'w1');
    await w.start();
    await front.store.save(rootSession('root'));
    const { childSessionId } = await front.spawnChild('root', { title: 'one', prompt: 'go' });
    await front.waitForChildren('root', { childSessionIds: [childSessionId] });
    await w.stop();
    await front.stop();
    // Only BullMQ's own bookkeeping (queue meta, the finished job kept for a day) and the deployment's
    // slots-intact mark are left; no live/owner/slot/taken key.
    expect(await listRedisKeys(`${prefix}:sprout`)).toEqual([`${prefix}:sprout:slots-intact`]);
  });
});
