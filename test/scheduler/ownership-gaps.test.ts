import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, flushMicrotasks, runUntil } from '../../src/testing/simulated-clock.js';
import { FlakyStore } from '../support/flaky-store.js';
import { childSession, rootSession } from '../support/harness.js';

type Completed = Extract<AgentEvent, { type: 'sub_session_completed' }>;

/** Two schedulers, one after the other, on one store and one (non-durable) log: a process restart without a durable log. */
function twoSchedulers(store: FlakyStore, recover: 'interrupt' | 'requeue') {
  const log = new MemoryEventLog({ retention: 1000 });
  const clock = createTestClock();
  const agent = scriptedAgent({ clock, script: [{ tokens: 'work' }], answer: 'the answer' });
  const first = createSpawnScheduler({ store, agent, clock, eventLog: log });
  const completions = (): Completed[] =>
    log
      .read('root', 0)
      .envelopes.map((e) => e.event)
      .filter((e): e is Completed => e.type === 'sub_session_completed');
  return { log, clock, agent, first, completions, second: () => createSpawnScheduler({ store, agent, clock, eventLog: log, recover }) };
}

describe("recovery decides from the parent's stream (issue 19, core gaps 1 and 2)", () => {
  it.each(['interrupt', 'requeue'] as const)(
    'a failed final save, then a second scheduler on the same log (%s): one completion, and the store agrees with it',
    async (recover) => {
      const store = new FlakyStore();
      await store.save(rootSession());
      await store.save(childSession('c'));
      const t = twoSchedulers(store, recover);
      store.failSave = (session) =>
        session.metadata.last_run_status === 'error' || session.metadata.last_run_status === 'completed'
          ? new Error('disk full')
          : undefined;
      await t.first.start();
      await t.first.enqueue({ parentSessionId: 'root', childSessionId: 'c', model: 'm' });
      await runUntil(() => t.completions().length === 1, { clock: t.clock, maxMs: 60_000 });
      await t.first.stop();
      expect(t.completions()[0]).toMatchObject({ status: 'error', error: expect.stringContaining('disk full') as string });
      expect((await store.load('c'))?.metadata.last_run_status).toBe('running');

      store.failSave = undefined;
      const second = t.second();
      const report = await second.start();
      await flushMicrotasks();
      expect(report).toEqual({ completed: ['c'], interrupted: [], requeued: [], failed: [] });
      expect(t.completions()).toHaveLength(1);
      const stored = await store.load('c');
      expect(stored?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: expect.stringContaining('disk full') as string });
      expect(t.agent.calls).toHaveLength(1);
      await second.stop();
    },
  );

  it("a run cancelled queued by stop({ mode: 'cancel' }) whose save hung stays cancelled after a restart, and is not run again", async () => {
    const store = new FlakyStore();
    await store.save(rootSession());
    await store.save(childSession('a'));
    await store.save(childSession('b'));
    const t = twoSchedulers(store, 'requeue');
    const hung: Promise<never>[] = [];
    await t.first.start();
    await t.first.enqueue({ parentSessionId: 'root', childSessionId: 'a', model: 'm' });
    await t.first.enqueue({ parentSessionId: 'root', childSessionId: 'b', model: 'm' });
    // b is queued behind a (concurrency 16: both start; make b's saves hang instead).
    store.failSave = () => undefined;
    const original = store.save.bind(store);
    store.save = (session) => {
      if (session.id === 'b' && session.metadata.last_run_status === 'cancelled') {
        const never = new Promise<never>(() => {});
        hung.push(never);
        return never;
      }
      return original(session);
    };
    await t.first.stop({ mode: 'cancel' });
    expect(t.completions().find((c) => c.child_session_id === 'b')).toMatchObject({ status: 'cancelled', reason: 'shutdown' });
    const before = (await store.load('b'))?.metadata.last_run_status;
    expect(['pending', 'running']).toContain(before);

    store.save = original;
    const second = t.second();
    const report = await second.start();
    await flushMicrotasks();
    expect(report.completed).toContain('b');
    expect(report.requeued).not.toContain('b');
    expect((await store.load('b'))?.metadata).toMatchObject({ last_run_status: 'cancelled' });
    expect(t.completions().filter((c) => c.child_session_id === 'b')).toHaveLength(1);
    await second.stop();
  });
});

describe('a spawn refused by stop() (issue 19, core gap 3)', () => {
  it('does not delete a child another caller enqueued and completed meanwhile: its answer stays', async () => {
    const store = new FlakyStore();
    await store.save(rootSession());
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ tokens: 'work' }], answer: 'kept answer' });
    let ids = 0;
    const scheduler = createSpawnScheduler({ store, agent, clock, createId: () => `id-${++ids}` });
    await scheduler.start();
    const original = store.save.bind(store);
    let stopping: Promise<void> | undefined;
    let other: Promise<unknown> | undefined;
    store.save = async (session) => {
      await original(session);
      if (session.kind === 'child' && other === undefined) {
        // Someone else sees the new child in the store and runs it; then the scheduler is stopped.
        other = scheduler.enqueue({ parentSessionId: 'root', childSessionId: session.id, model: 'm' });
        await other;
        const id = session.id;
        await runUntil(async () => (await scheduler.getChild(id))?.status === 'completed', { clock, maxMs: 60_000 });
        stopping = scheduler.stop({ mode: 'drain' });
      }
    };
    await expect(scheduler.spawnChild('root', { title: 'A', prompt: 'a' })).rejects.toMatchObject({ code: 'SCHEDULER_STOPPED' });
    store.save = original;
    await stopping;
    expect(other).toBeDefined();
    const child = await store.load('id-1');
    expect(child?.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'kept answer' });
  });
});

describe('a spawn refused by stop() while the store is slow (issue 19, core gap 3)', () => {
  it('does not delete a child another caller enqueued, though that run ended before its saves landed', async () => {
    const store = new FlakyStore();
    await store.save(rootSession());
    const clock = createTestClock();
    // The agent works until it is cancelled (the test clock never reaches its wait's end).
    const agent = scriptedAgent({ clock, script: [{ tokens: 'work' }, { wait: 60_000 }], answer: 'never' });
    let ids = 0;
    const log = new MemoryEventLog({ retention: 1000 });
    const scheduler = createSpawnScheduler({ store, agent, clock, eventLog: log, createId: () => `id-${++ids}` });
    await scheduler.start();
    const original = store.save.bind(store);
    let other: Promise<unknown> | undefined;
    let stopping: Promise<void> | undefined;
    store.save = async (session) => {
      await original(session);
      if (session.kind === 'child' && other === undefined) {
        // Someone else sees the new child in the store and runs it; then the store turns slow (its
        // saves hang) and the scheduler is stopped: that run ends cancelled, its saves in flight.
        store.holdSave = () => new Promise<void>(() => {});
        other = scheduler.enqueue({ parentSessionId: 'root', childSessionId: session.id, model: 'm' });
        await other;
        stopping = scheduler.stop({ mode: 'cancel' });
        // The spawn goes on once that run ended (its enqueue is refused: the scheduler stopped).
        await stopping;
      }
    };
    await expect(scheduler.spawnChild('root', { title: 'A', prompt: 'a' })).rejects.toMatchObject({ code: 'SCHEDULER_STOPPED' });
    await stopping;
    const completions = log
      .read('root', 0)
      .envelopes.map((e) => e.event)
      .filter((e): e is Completed => e.type === 'sub_session_completed');
    expect(completions).toEqual([expect.objectContaining({ child_session_id: 'id-1', status: 'cancelled' })]);
    expect(await store.load('id-1')).toBeDefined();
  });
});

describe('maxRunMs passing during a slow final save (issue 19, core gap 4)', () => {
  it('the stream says timeout, and the store ends up saying so too once the slow save lands', async () => {
    const store = new FlakyStore();
    await store.save(rootSession());
    await store.save(childSession('c'));
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ tokens: 'quick' }], answer: 'done early' });
    const scheduler = createSpawnScheduler({ store, agent, clock, maxRunMs: 5000 });
    const events: AgentEvent[] = [];
    scheduler.events('root').subscribe(({ event }) => events.push(event));
    await scheduler.start();
    const original = store.save.bind(store);
    let release: (() => void) | undefined;
    store.save = (session) => {
      if (session.id === 'c' && session.metadata.last_run_status === 'completed' && release === undefined) {
        return new Promise<void>((resolve, reject) => {
          release = () => void original(session).then(resolve, reject);
        });
      }
      return original(session);
    };
    await scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c', model: 'm' });
    await runUntil(() => release !== undefined, { clock, maxMs: 60_000 });
    await runUntil(() => events.some((e) => e.type === 'sub_session_completed'), { clock, maxMs: 60_000 });
    const completion = events.find((e): e is Completed => e.type === 'sub_session_completed');
    expect(completion).toMatchObject({ status: 'error', reason: 'timeout' });
    release?.();
    await runUntil(async () => (await store.load('c'))?.metadata.last_run_status === 'error', { clock, maxMs: 60_000 });
    const stored = await store.load('c');
    expect(stored?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: 'child session timed out after 5000 ms' });
    // The transcript the agent wrote is kept.
    expect(stored?.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'done early' });
    await scheduler.stop();
  });
});
