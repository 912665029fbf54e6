/**
 * One regression test per fault finding of issue 9 ("Exactly once, on every path"). Each one
 * failed on the code before the fix; the number in each title is the item's number.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import { EventLogError, SchedulerStoppedError, SproutValidationError } from '../../src/errors.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { EventLog } from '../../src/streams/event-log.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { advance, createTestClock, flushMicrotasks, runUntil } from '../../src/testing/simulated-clock.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { collect, completionsIn, jobFor, track } from '../support/batch-b.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

const PROTO_NAMES = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf', 'isPrototypeOf'];

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-faults-'));
  dirs.push(dir);
  return join(dir, 'sprout.db');
}

/** A store whose load/save of chosen sessions never settle. */
class HangingStore extends MemorySessionStore {
  hangLoad = new Set<string>();
  hangSave = new Set<string>();
  override load(id: string): Promise<Session | undefined> {
    return this.hangLoad.has(id) ? new Promise(() => {}) : super.load(id);
  }
  override save(session: Session): Promise<void> {
    return this.hangSave.has(session.id) ? new Promise(() => {}) : super.save(session);
  }
}

describe('1. ids that are Object.prototype names', () => {
  it.each(PROTO_NAMES)('parent and child id %s: runs start, dedupe and cancel work', async (name) => {
    const child = `${name}`;
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      seed: [rootSession(name), childSession(child, name), rootSession('root'), childSession('c2', 'root')],
    });
    const first = await h.scheduler.enqueue(jobFor(child, name));
    const again = await h.scheduler.enqueue(jobFor(child, name));
    expect(again).toEqual({ runId: first.runId, deduplicated: true });
    await h.settle();
    expect(h.agent.calls).toHaveLength(1);
    expect(await h.scheduler.cancel(child)).toBe(true);
    await h.until(() => h.completions(name).length === 1);
    expect(h.completions(name)[0]).toMatchObject({ run_id: first.runId, status: 'cancelled', reason: 'user' });
    // The scheduler still works for everyone else.
    await h.scheduler.enqueue(jobFor('c2'));
    await h.until(() => h.completions('root').length === 1);
    expect(h.completions('root')[0]?.status).toBe('completed');
  });
});

describe('2. values String() cannot convert, throwing inspectors and getters', () => {
  const revoked = (() => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  })();
  const nasty: [string, () => unknown][] = [
    ['Object.create(null)', () => Object.create(null) as unknown],
    [
      'a throwing toString',
      () => ({
        toString: () => {
          throw new Error('no');
        },
        toJSON: () => {
          throw new Error('no');
        },
      }),
    ],
    ['a revoked Proxy', () => revoked],
  ];
  it.each(nasty)('an agent rejecting with %s ends its run in error; stop() resolves', async (_name, value) => {
    // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- rejecting with a non-Error is the point
    const agent: AgentRuntime = { execute: () => Promise.reject(value()) };
    const h = await createHarness({ agent: agent as never, seed: [rootSession(), childSession('c')] });
    await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('error');
    expect(typeof h.completions()[0]?.error).toBe('string');
    await h.scheduler.stop({ mode: 'cancel' });
  });

  it.each(nasty)('an agent throwing %s synchronously ends its run in error', async (_name, value) => {
    const agent: AgentRuntime = {
      execute: () => {
        throw value();
      },
    };
    const h = await createHarness({ agent: agent as never, seed: [rootSession(), childSession('c')] });
    await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('error');
  });

  it('an inspection observer that throws disturbs no run and is reported', async () => {
    const h = await createHarness({
      seed: [rootSession(), childSession('c')],
      scheduler: {
        inspect: () => {
          throw new Error('inspector bug');
        },
      },
    });
    await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('completed');
    expect(h.diagnostics).toContainEqual(expect.objectContaining({ kind: 'inspector_error' }));
    await h.scheduler.stop();
  });

  it('a job object whose getter throws is refused with SproutValidationError', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c')] });
    const job = Object.defineProperty({ parentSessionId: 'root', model: 'm' }, 'childSessionId', {
      enumerable: true,
      get() {
        throw new Error('getter exploded');
      },
    });
    await expect(h.scheduler.enqueue(job as never)).rejects.toBeInstanceOf(SproutValidationError);
    await expect(h.scheduler.spawnChild('root', job as never)).rejects.toBeInstanceOf(SproutValidationError);
  });
});

describe('3. recovery on SQLite is driven by runs opened and not closed', () => {
  /** A scheduler on `file` with a hanging agent; returns it and its root stream. */
  async function first(file: string, seed: Session[]) {
    const store = new SqliteSessionStore(file);
    for (const session of seed) await store.save(structuredClone(session));
    const clock = createTestClock();
    let id = 0;
    const scheduler = createSpawnScheduler({
      store,
      agent: scriptedAgent({ clock, script: [{ hang: true }] }),
      clock,
      concurrency: 1,
      createId: () => `a-${++id}`,
    });
    await scheduler.start();
    return { store, scheduler, clock };
  }
  /**
   * The first "process" dies: its run is left where it is (a hanging agent on a clock that never
   * moves does nothing more) and its file handle is closed without stopping anything.
   */
  async function crash(p: { store: SqliteSessionStore }): Promise<void> {
    await flushMicrotasks();
    p.store.close();
  }
  /** Restarts on the same file, as a new process would. */
  async function restart(file: string, recover: 'interrupt' | 'requeue' = 'interrupt') {
    const store = new SqliteSessionStore(file);
    const clock = createTestClock();
    let id = 0;
    const scheduler = createSpawnScheduler({ store, agent: scriptedAgent({ clock }), clock, recover, createId: () => `b-${++id}` });
    const root = collect(scheduler.events('root', { afterSeq: 0 }));
    const report = await scheduler.start();
    await runUntil(
      () =>
        scheduler.actor.getSnapshot().context.queue.length === 0 && Object.keys(scheduler.actor.getSnapshot().context.active).length === 0,
      { clock, maxMs: 600_000, stepMs: 1000 },
    );
    return { store, scheduler, root: root.envelopes, report };
  }

  it('a child queued with enqueue(), and one re-queued after a completed run, are both closed once', async () => {
    const file = tempDb();
    const again = childSession('again', 'root', { metadata: { last_run_status: 'completed', last_run_id: 'r-old' } });
    const p1 = await first(file, [rootSession(), childSession('busy'), childSession('queued'), again]);
    const busy = await p1.scheduler.enqueue(jobFor('busy'));
    const queued = await p1.scheduler.enqueue(jobFor('queued'));
    const requeued = await p1.scheduler.enqueue(jobFor('again'));
    await crash(p1);
    // Crash: nothing is stopped; the file is reopened by a new "process".
    const p2 = await restart(file);
    for (const runId of [busy.runId, queued.runId, requeued.runId]) {
      const ends = completionsIn(p2.root).filter((c) => c.run_id === runId);
      expect(ends, runId).toHaveLength(1);
      expect(ends[0]).toMatchObject({ status: 'error', reason: 'interrupted', error: INTERRUPTED_ERROR });
    }
    expect((await p2.store.load('again'))?.metadata).toMatchObject({ last_run_status: 'error', last_run_id: requeued.runId });
    expect(p2.report.interrupted.sort()).toEqual(['again', 'busy', 'queued']);
    // A second restart finds nothing open.
    await p2.scheduler.stop();
    p2.store.close();
    const p3 = await restart(file);
    expect(completionsIn(p3.root)).toHaveLength(3);
    p3.store.close();
  });

  it('recover: requeue closes the interrupted run, then runs the child under a new run id', async () => {
    const file = tempDb();
    const p1 = await first(file, [rootSession(), childSession('c')]);
    const { runId } = await p1.scheduler.enqueue(jobFor('c'));
    await crash(p1);
    const p2 = await restart(file, 'requeue');
    const ends = completionsIn(p2.root);
    expect(ends[0]).toMatchObject({ run_id: runId, status: 'error', reason: 'interrupted' });
    expect(ends[1]).toMatchObject({ child_session_id: 'c', status: 'completed' });
    expect(ends[1]?.run_id).not.toBe(runId);
    expect(p2.report.requeued).toEqual(['c']);
    p2.store.close();
  });

  it('killed after the final save, before the completion: the saved outcome is published once', async () => {
    const file = tempDb();
    const p1 = await first(file, [rootSession(), childSession('c')]);
    const { runId } = await p1.scheduler.enqueue(jobFor('c'));
    await flushMicrotasks();
    // The final save happened (answer and metadata on disk); the completion never got appended.
    const saved = (await p1.store.load('c'))!;
    saved.messages.push({ id: 'a1', role: 'assistant', content: 'the answer', created_at: '2026-01-01T00:00:09.000Z' });
    saved.metadata = { ...saved.metadata, last_run_status: 'completed', last_run_id: runId };
    await p1.store.save(saved);
    await crash(p1);
    const p2 = await restart(file);
    const ends = completionsIn(p2.root).filter((c) => c.run_id === runId);
    expect(ends).toEqual([expect.objectContaining({ status: 'completed', result: 'the answer' })]);
    expect(p2.report.completed).toEqual(['c']);
    p2.store.close();
  });

  it('killed between spawnChild’s save and its enqueue: no completion for a run never announced', async () => {
    const file = tempDb();
    const store = new SqliteSessionStore(file);
    await store.save(rootSession());
    // What spawnChild saved before the crash: a pending child with its planned run id.
    await store.save(childSession('orphan', 'root', { metadata: { last_run_status: 'pending', last_run_id: 'planned-1' } }));
    store.close();
    const p2 = await restart(file);
    expect(completionsIn(p2.root)).toEqual([]);
    expect((await p2.store.load('orphan'))?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: INTERRUPTED_ERROR });
    p2.store.close();
  });
});

describe('4. waitForChildren reports each pinned run’s own outcome', () => {
  it('a run that completed, then its child queued again before the wait resolves', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 10 }] }, seed: [rootSession(), childSession('d')] });
    const { runId } = await h.scheduler.enqueue(jobFor('d'));
    const wait = h.scheduler.waitForChildren('root', { childSessionIds: ['d'] });
    await h.until(() => h.completions().length === 1);
    // Queue the child again in the same turn the first run ended.
    const session = (await h.store.load('d'))!;
    session.messages.push({ id: 'u2', role: 'user', content: 'again', created_at: '2026-01-01T00:00:00.000Z' });
    await h.store.save(session);
    await h.scheduler.enqueue(jobFor('d'));
    expect(await wait).toEqual([{ childSessionId: 'd', runId, status: 'completed', result: 'Done: Child d' }]);
  });

  it.each([0, 1])('retainEndedRuns: %i still gives the real status, error and result', async (retainEndedRuns) => {
    const h = await createHarness({
      scheduler: { retainEndedRuns },
      agent: { script: [{ wait: 1 }] },
      seed: [rootSession(), childSession('d'), childSession('e')],
    });
    await h.scheduler.enqueue(jobFor('d'));
    await h.scheduler.enqueue(jobFor('e'));
    const wait = h.scheduler.waitForChildren('root', { policy: 'all' });
    await h.until(() => h.completions().length === 2);
    expect(await wait).toEqual([
      expect.objectContaining({ childSessionId: 'd', status: 'completed', result: 'Done: Child d' }),
      expect.objectContaining({ childSessionId: 'e', status: 'completed', result: 'Done: Child e' }),
    ]);
  });

  it('a child whose evicted run failed while loading reads back from its parent’s stream, not as queued', async () => {
    const store = new MemorySessionStore();
    const h = await createHarness({ store, scheduler: { retainEndedRuns: 0 }, seed: [rootSession(), childSession('c')] });
    const load = store.load.bind(store);
    store.load = (id) => (id === 'c' ? Promise.reject(new Error('disk read error')) : load(id));
    const { runId } = await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
    store.load = load;
    // No metadata was written (the load failed) and the run was evicted from memory at once.
    expect((await store.load('c'))?.metadata.last_run_status).toBeUndefined();
    const expected = { runId, status: 'error', error: 'failed to load child session: disk read error' };
    expect(await h.scheduler.getChild('c')).toMatchObject(expected);
    expect(await h.scheduler.waitForChildren('root', { childSessionIds: ['c'] })).toEqual([{ childSessionId: 'c', ...expected }]);
  });
});

describe('5/6. diagnostics subscribers and event logs that throw', () => {
  it('5. a diagnostics$ subscriber that throws crashes nothing', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] }, seed: [rootSession(), childSession('c')] });
    h.scheduler.diagnostics$.subscribe(() => {
      throw new Error('subscriber bug');
    });
    h.scheduler.events('root').subscribe(() => {
      throw new Error('a UI bug'); // produces a subscriber_error diagnostic
    });
    await h.scheduler.enqueue(jobFor('c'));
    await h.scheduler.stop({ mode: 'cancel' });
    await h.until(() => h.completions().length === 1);
    expect(h.diagnostics.some((d) => d.kind === 'subscriber_error')).toBe(true);
  });

  it('6. an append that throws while a run is queued rejects that enqueue with EventLogError; the scheduler carries on', async () => {
    const inner = new MemoryEventLog();
    let refuse = true;
    const log: EventLog = {
      capabilities: { durable: false, runLedger: false },
      append: (sessionId, event: AgentEvent) => {
        if (refuse && event.type === 'sub_session_started') throw new Error('disk full');
        return inner.append(sessionId, event);
      },
      read: (sessionId, afterSeq) => inner.read(sessionId, afterSeq),
    };
    const h = await createHarness({ scheduler: { eventLog: log }, seed: [rootSession(), childSession('c'), childSession('d')] });
    await expect(h.scheduler.enqueue(jobFor('c'))).rejects.toBeInstanceOf(EventLogError);
    await h.settle();
    expect(h.agent.calls).toHaveLength(0); // nothing ran, nothing was announced
    expect(h.completions()).toEqual([]);
    expect(h.diagnostics).toContainEqual(expect.objectContaining({ kind: 'event_log_error' }));
    refuse = false;
    await h.scheduler.enqueue(jobFor('d'));
    const again = await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 2);
    expect(h.completions().map((c) => c.status)).toEqual(['completed', 'completed']);
    expect(again.deduplicated).toBeUndefined();
  });
});

describe('7. a store that never answers cannot wedge a run', () => {
  it.each(['load', 'save'] as const)('a %s that never settles: cancel ends the run, frees the slot, stop resolves', async (which) => {
    const store = new HangingStore();
    const h = await createHarness({ store, scheduler: { concurrency: 1 }, seed: [rootSession(), childSession('c'), childSession('d')] });
    if (which === 'load') store.hangLoad.add('c');
    else store.hangSave.add('c');
    const { runId } = await h.scheduler.enqueue(jobFor('c'));
    await h.scheduler.enqueue(jobFor('d'));
    await h.settle();
    expect(await h.scheduler.cancel('c')).toBe(true);
    await h.until(() => h.completions().some((c) => c.run_id === runId));
    expect(h.completions().find((c) => c.run_id === runId)).toMatchObject({ status: 'cancelled', reason: 'user' });
    await h.until(() => h.completions().length === 2); // the slot was freed: d ran
    expect(h.completions()[1]).toMatchObject({ child_session_id: 'd', status: 'completed' });
    const stopped = track(h.scheduler.stop({ mode: 'cancel' }));
    await h.until(stopped.settled);
  });

  it('stop({ mode: "cancel" }) ends a run whose final save hangs', async () => {
    const store = new HangingStore();
    const h = await createHarness({ store, agent: { script: [{ wait: 10 }] }, seed: [rootSession(), childSession('c')] });
    await h.scheduler.enqueue(jobFor('c'));
    await h.settle();
    store.hangSave.add('c');
    await h.advance(10);
    const stopped = track(h.scheduler.stop({ mode: 'cancel' }));
    await h.until(stopped.settled);
    expect(h.completions()).toEqual([
      expect.objectContaining({
        status: 'error',
        error: 'failed to save child session: the store did not answer before the cancelled run had to end',
      }),
    ]);
  });

  it('stop({ mode: "cancel" }) does not wait out the grace: it resolves with a hung load and no clock step', async () => {
    const store = new HangingStore();
    const h = await createHarness({ store, seed: [rootSession(), childSession('c'), childSession('d')] });
    store.hangLoad.add('c');
    const hung = await h.scheduler.enqueue(jobFor('c'));
    const fine = await h.scheduler.enqueue(jobFor('d'));
    await h.scheduler.stop({ mode: 'cancel' }); // no clock step at all
    expect(h.completions().map((c) => [c.run_id, c.status, c.reason])).toEqual(
      expect.arrayContaining([
        [hung.runId, 'cancelled', 'shutdown'],
        [fine.runId, 'cancelled', 'shutdown'],
      ]),
    );
    // A store that answers still gets the cancelled status saved before the completion.
    expect((await store.load('d'))?.metadata).toMatchObject({ last_run_status: 'cancelled', last_run_id: fine.runId });
  });

  it('a cancel requested before the deadline decides the outcome (cancelled, not timeout)', async () => {
    const store = new HangingStore();
    const h = await createHarness({ store, scheduler: { maxRunMs: 200 }, seed: [rootSession(), childSession('c')] });
    store.hangLoad.add('c');
    await h.scheduler.enqueue(jobFor('c'));
    expect(await h.scheduler.cancel('c')).toBe(true);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'user' });
  });

  it('maxRunMs covers every phase: a load that never settles ends in error/timeout', async () => {
    const store = new HangingStore();
    const h = await createHarness({ store, scheduler: { maxRunMs: 5000 }, seed: [rootSession(), childSession('c')] });
    store.hangLoad.add('c');
    await h.scheduler.enqueue(jobFor('c'));
    await h.advance(5000);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'error', reason: 'timeout', error: 'child session timed out after 5000 ms' });
  });
});

describe('8. timer options beyond 2^31 - 1 ms', () => {
  it.each([
    ['maxRunMs', 2 ** 31],
    ['heartbeatIntervalMs', 2 ** 32],
    ['idleTimeoutMs', 2 ** 31],
    ['cancelGraceMs', 2 ** 40],
  ])('%s: %d is refused with SproutValidationError', (option, value) => {
    expect(() => createSpawnScheduler({ store: new MemorySessionStore(), agent: scriptedAgent(), [option]: value })).toThrow(
      SproutValidationError,
    );
  });

  it('2^31 - 1 is accepted and does not fire early', async () => {
    const h = await createHarness({
      agent: { script: [{ wait: 10_000 }] },
      scheduler: { maxRunMs: 2 ** 31 - 1, heartbeatIntervalMs: 2 ** 31 - 1 },
      seed: [rootSession(), childSession('c')],
    });
    await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('completed');
    expect(h.rootEvents.filter((e) => e.event.type === 'sub_session_heartbeat')).toHaveLength(1);
  });
});

describe('9. listByRunStatus returning garbage', () => {
  it.each([undefined, null, 7, 'x', [null], [{ id: 1 }]])(
    '%j: start() resolves, the problem is reported, enqueue works',
    async (garbage) => {
      const store = new MemorySessionStore();
      store.listByRunStatus = () => Promise.resolve(garbage as never);
      const h = await createHarness({ store, start: false, seed: [rootSession(), childSession('c')] });
      await expect(h.scheduler.start()).resolves.toMatchObject({ failed: [] });
      expect(h.diagnostics).toContainEqual(expect.objectContaining({ kind: 'recovery_failed' }));
      await h.scheduler.enqueue(jobFor('c'));
      await h.until(() => h.completions().length === 1);
    },
  );
});

describe('10/11. cancel from a subscriber; stop after a crash', () => {
  it('10. cancel(child) from a subscriber of sub_session_started returns true and the run ends cancelled', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c')] });
    let answer: Promise<boolean> | undefined;
    h.scheduler.events('root').subscribe(({ event }) => {
      if (event.type === 'sub_session_started') answer ??= h.scheduler.cancel('c');
    });
    await h.scheduler.enqueue(jobFor('c'));
    expect(await answer).toBe(true);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'user' });
    expect(h.agent.calls).toHaveLength(0);
  });

  it('11. stop() resolves only after a crashed job’s completion is published', async () => {
    const clock = createTestClock();
    let crash = false;
    const now = clock.now.bind(clock);
    clock.now = () => {
      if (crash && new Error().stack?.includes('publishHeartbeat')) {
        crash = false;
        throw new Error('clock broke');
      }
      return now();
    };
    const h = await createHarness({
      agent: scriptedAgent({ clock, script: [{ hang: true }] }),
      scheduler: { clock, heartbeatIntervalMs: 1000 },
      seed: [rootSession(), childSession('c')],
    });
    await h.scheduler.enqueue(jobFor('c'));
    await h.settle();
    crash = true;
    await advance(clock, 1000);
    await h.scheduler.stop({ mode: 'cancel' });
    expect(h.completions()).toEqual([expect.objectContaining({ status: 'error', error: 'spawn job crashed: clock broke' })]);
  });
});

describe('12/13. a failed final save; spawnChild refused by stop', () => {
  it('12. a failed final save gives exactly one completion, also after a restart', async () => {
    const file = tempDb();
    const store = new SqliteSessionStore(file);
    await store.save(rootSession());
    await store.save(childSession('c'));
    const save = store.save.bind(store);
    store.save = (session) =>
      session.id === 'c' && session.metadata.last_run_status === 'error' ? Promise.reject(new Error('disk')) : save(session);
    const clock = createTestClock();
    const s1 = createSpawnScheduler({ store, agent: { execute: () => Promise.reject(new Error('model down')) }, clock });
    await s1.start();
    const { runId } = await s1.enqueue(jobFor('c'));
    const root1 = collect(s1.events('root', { afterSeq: 0 }));
    await runUntil(() => completionsIn(root1.envelopes).length === 1, { clock, maxMs: 60_000, stepMs: 100 });
    await s1.stop();
    store.close();
    const store2 = new SqliteSessionStore(file);
    const s2 = createSpawnScheduler({ store: store2, agent: scriptedAgent(), clock: createTestClock() });
    const root2 = collect(s2.events('root', { afterSeq: 0 }));
    await s2.start();
    expect(completionsIn(root2.envelopes).filter((c) => c.run_id === runId)).toHaveLength(1);
    expect((await store2.load('c'))?.metadata.last_run_status).toBe('error');
    await s2.stop();
    store2.close();
  });

  it('13. spawnChild refused because stop() ran during its store calls leaves no pending child', async () => {
    const store = new MemorySessionStore();
    const h = await createHarness({ store, seed: [rootSession()] });
    const load = store.load.bind(store);
    let stopping: Promise<void> | undefined;
    store.load = async (id) => {
      const loaded = await load(id);
      stopping ??= h.scheduler.stop();
      return loaded;
    };
    await expect(h.scheduler.spawnChild('root', { title: 'T', prompt: 'p' })).rejects.toBeInstanceOf(SchedulerStoppedError);
    await stopping;
    expect(await store.listChildren('root')).toEqual([]);
    expect(h.rootEvents).toEqual([]);
  });
});

describe('14/15/16. emit, afterSeq and bad arguments', () => {
  it.each([
    ['a BigInt', () => ({ type: 'tool_start', tool_call_id: 't', tool_name: 'x', arguments: { n: 10n } })],
    [
      'a cycle',
      () => {
        const args: Record<string, unknown> = {};
        args.self = args;
        return { type: 'tool_start', tool_call_id: 't', tool_name: 'x', arguments: args };
      },
    ],
  ])('14. emit() of an event with %s never throws; the run fails with a clear error (memory and SQLite)', async (_name, make) => {
    for (const store of [new MemorySessionStore(), new SqliteSessionStore(tempDb())]) {
      const thrown: unknown[] = [];
      const agent: AgentRuntime = {
        execute: (session, { emit }) => {
          try {
            emit(make() as AgentEvent);
          } catch (error) {
            thrown.push(error);
          }
          session.messages.push({ id: 'a', role: 'assistant', content: 'ok', created_at: '2026-01-01T00:00:00.000Z' });
          return Promise.resolve();
        },
      };
      const h = await createHarness({ store, agent: agent as never, seed: [rootSession(), childSession('c')] });
      await h.scheduler.enqueue(jobFor('c'));
      await h.until(() => h.completions().length === 1);
      expect(thrown).toEqual([]);
      expect(h.completions()[0]?.status).toBe('error');
      expect(h.completions()[0]?.error).toMatch(/not JSON-serializable/);
      expect((await h.scheduler.getChild('c'))?.eventsSeen).toBe(0);
      await h.scheduler.stop();
    }
  });

  it('15. events(id, { afterSeq }) past the end of the stream is refused', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c')] });
    await h.scheduler.enqueue(jobFor('c'));
    const last = h.rootEvents.at(-1)!.seq;
    expect(() => h.scheduler.events('root', { afterSeq: last + 1 })).toThrow(SproutValidationError);
    expect(() => h.scheduler.events('root', { afterSeq: last })).not.toThrow();
  });

  it('16. every bad argument is a SproutValidationError, never a raw TypeError', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c')] });
    const s = h.scheduler as unknown as Record<string, (...args: unknown[]) => unknown>;
    expect(() => s.events!('root', null)).toThrow(SproutValidationError);
    expect(() => s.events!(42)).toThrow(SproutValidationError);
    await expect(s.waitForChildren!('root', null)).rejects.toBeInstanceOf(SproutValidationError);
    await expect(s.stop!(null)).rejects.toBeInstanceOf(SproutValidationError);
    await expect(s.stop!({ mode: 'later' })).rejects.toBeInstanceOf(SproutValidationError);
    for (const bad of [{}, [], 7, null, undefined, '']) {
      await expect(s.deleteSession!(bad)).rejects.toBeInstanceOf(SproutValidationError);
      await expect(s.cancelTree!(bad)).rejects.toBeInstanceOf(SproutValidationError);
      await expect(s.getChild!(bad)).rejects.toBeInstanceOf(SproutValidationError);
      await expect(s.cancel!(bad)).rejects.toBeInstanceOf(SproutValidationError);
    }
    // The scheduler is unharmed.
    await h.scheduler.enqueue(jobFor('c'));
    await h.until(() => h.completions().length === 1);
  });
});

describe('cancelTree walks the stored tree', () => {
  it('a job naming the wrong parent is cancelled with that parent, but its child’s real subtree is not', async () => {
    const h = await createHarness({
      agent: { script: [{ hang: true }] },
      scheduler: { concurrency: 1 },
      seed: [rootSession('p'), rootSession('q'), childSession('a', 'p'), childSession('g', 'a', { spawn_depth: 2, root_session_id: 'p' })],
    });
    await h.scheduler.enqueue(jobFor('g', 'a')); // running
    await h.scheduler.enqueue({ parentSessionId: 'q', childSessionId: 'a', model: 'm' }); // queued; a belongs to p
    await h.settle();
    expect(await h.scheduler.cancelTree('q')).toBe(1);
    await h.until(() => h.completions('q').length === 1);
    expect(h.completions('q')[0]).toMatchObject({ child_session_id: 'a', status: 'cancelled', reason: 'parent' });
    expect(h.completions('a')).toEqual([]); // g keeps running
    expect((await h.scheduler.getChild('g'))?.status).toBe('running');
  });
});

describe('start/stop lifecycle', () => {
  it('start() after stop() rejects with SchedulerStoppedError', async () => {
    const h = await createHarness({ seed: [rootSession()] });
    await h.scheduler.stop();
    await expect(h.scheduler.start()).rejects.toThrow(/cannot be started again/);
  });
});
