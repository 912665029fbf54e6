import { describe, expect, it } from 'vitest';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';
import { completionsIn, jobFor, startedChildren, track } from '../support/batch-b.js';

const ids = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i + 1}`);

describe('global concurrency', () => {
  it('never runs more than `concurrency` agents at once, and every run completes', async () => {
    const children = ids('c', 10);
    const h = await createHarness({
      agent: { script: (session) => [{ wait: 1000 + 100 * Number(session.id.slice(1)) }] },
      scheduler: { concurrency: 3 },
      seed: [rootSession(), ...children.map((id) => childSession(id))],
    });
    const active: number[] = [];
    for (const id of children) await h.scheduler.enqueue(jobFor(id));
    await h.settle();
    expect(h.agent.active).toBe(3);
    await h.until(() => {
      active.push(h.agent.active);
      return h.completions().length === children.length;
    }, 'all ten runs completed');

    expect(h.agent.maxActive).toBe(3);
    expect(Math.max(...active)).toBeLessThanOrEqual(3);
    expect(h.agent.calls).toHaveLength(10);
    expect(h.completions().map((c) => c.status)).toEqual(Array(10).fill('completed'));
    expect(new Set(h.completions().map((c) => c.child_session_id))).toEqual(new Set(children));
    expect(h.scheduler.actor.getSnapshot().context.running).toBe(0);
  });

  it('starts queued runs in FIFO order as slots free up', async () => {
    const children = ids('c', 5);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 2 },
      seed: [rootSession(), ...children.map((id) => childSession(id))],
    });
    for (const id of children) await h.scheduler.enqueue(jobFor(id));
    await h.until(() => h.completions().length === 5);
    expect(h.agent.calls.map((call) => call.sessionId)).toEqual(children);
    expect(h.agent.calls.map((call) => call.startedAt)).toEqual([0, 0, 1000, 1000, 2000]);
  });
});

describe('perParentConcurrency', () => {
  it("caps one parent's running children while another parent's children still run", async () => {
    const ofRoot = ids('a', 4);
    const ofRoot2 = ids('b', 3);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 10, perParentConcurrency: 2 },
      seed: [
        rootSession(),
        rootSession('root2'),
        ...ofRoot.map((id) => childSession(id)),
        ...ofRoot2.map((id) => childSession(id, 'root2')),
      ],
    });
    const root2Events = h.eventsOf('root2');
    // root's children first, so that root2's would wait behind them in a plain FIFO.
    for (const id of ofRoot) await h.scheduler.enqueue(jobFor(id));
    for (const id of ofRoot2) await h.scheduler.enqueue(jobFor(id, 'root2'));
    await h.settle();

    const running = (prefix: string) =>
      h.agent.calls.filter((call) => call.sessionId.startsWith(prefix) && call.settledAt === undefined).length;
    expect(running('a')).toBe(2);
    expect(running('b')).toBe(2);
    expect(h.agent.active).toBe(4);
    expect(h.scheduler.actor.getSnapshot().context.perParent).toEqual({ root: 2, root2: 2 });

    let maxA = 0;
    let maxB = 0;
    await h.until(() => {
      maxA = Math.max(maxA, running('a'));
      maxB = Math.max(maxB, running('b'));
      return h.completions().length === 4 && completionsIn(root2Events).length === 3;
    }, 'both parents done');
    expect(maxA).toBe(2);
    expect(maxB).toBe(2);
    expect(h.agent.calls.map((call) => [call.sessionId, call.startedAt])).toEqual([
      ['a1', 0],
      ['a2', 0],
      ['b1', 0],
      ['b2', 0],
      ['a3', 1000],
      ['a4', 1000],
      ['b3', 1000],
    ]);
    expect(h.completions().every((c) => c.status === 'completed')).toBe(true);
    expect(completionsIn(root2Events).every((c) => c.status === 'completed' && c.parent_session_id === 'root2')).toBe(true);
  });

  it('the global cap still applies across parents', async () => {
    const ofRoot = ids('a', 3);
    const ofRoot2 = ids('b', 3);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 3, perParentConcurrency: 2 },
      seed: [
        rootSession(),
        rootSession('root2'),
        ...ofRoot.map((id) => childSession(id)),
        ...ofRoot2.map((id) => childSession(id, 'root2')),
      ],
    });
    const root2Events = h.eventsOf('root2');
    for (const id of ofRoot) await h.scheduler.enqueue(jobFor(id));
    for (const id of ofRoot2) await h.scheduler.enqueue(jobFor(id, 'root2'));
    await h.until(() => h.completions().length === 3 && completionsIn(root2Events).length === 3);
    expect(h.agent.maxActive).toBe(3);
  });
});

describe('queue backpressure', () => {
  it('makes enqueue wait beyond queueCapacity and admits the waiters in FIFO order', async () => {
    const children = ids('c', 6);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 1, queueCapacity: 2 },
      seed: [rootSession(), ...children.map((id) => childSession(id))],
    });
    const resolvedOrder: string[] = [];
    const calls = children.map((id) => {
      const promise = h.scheduler.enqueue(jobFor(id));
      void promise.then(() => resolvedOrder.push(id));
      return track(promise);
    });
    await h.settle();

    // c1 runs, c2 and c3 fill the queue; c4..c6 wait for room.
    expect(resolvedOrder).toEqual(['c1', 'c2', 'c3']);
    expect(calls.map((call) => call.settled())).toEqual([true, true, true, false, false, false]);
    expect(startedChildren(h.rootEvents)).toEqual(['c1', 'c2', 'c3']);
    expect(h.scheduler.actor.getSnapshot().context.waiting.map((run) => run.job.childSessionId)).toEqual(['c4', 'c5', 'c6']);

    await h.advance(500);
    expect(resolvedOrder).toEqual(['c1', 'c2', 'c3']);

    // c1 ends: c2 runs, one place opens, c4 is admitted (and only now announced).
    await h.advance(500);
    expect(resolvedOrder).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(startedChildren(h.rootEvents)).toEqual(['c1', 'c2', 'c3', 'c4']);
    const types = h.rootEvents.map((e) => `${e.event.type}:${'child_session_id' in e.event ? e.event.child_session_id : ''}`);
    expect(types.indexOf('sub_session_started:c4')).toBeGreaterThan(types.indexOf('sub_session_completed:c1'));

    await h.until(() => h.completions().length === 6, 'all six completed');
    expect(resolvedOrder).toEqual(children);
    expect(startedChildren(h.rootEvents)).toEqual(children);
    expect(h.agent.calls.map((call) => call.sessionId)).toEqual(children);
    expect(h.agent.maxActive).toBe(1);
    for (const id of children) {
      expect(typesFor(h.rootEvents, id)[0]).toBe('sub_session_started');
      expect(typesFor(h.rootEvents, id).filter((t) => t === 'sub_session_started')).toHaveLength(1);
    }
    // Every waiter got a distinct run id, the one its completion carries.
    const runIds = calls.map((call) => call.value()?.runId);
    expect(new Set(runIds).size).toBe(6);
    expect(h.completions().map((c) => c.run_id)).toEqual(runIds);
  });
});

describe('queue backpressure: cancel and stop', () => {
  it('cancelling a waiting enqueue resolves it, announces the run and ends it cancelled without running it', async () => {
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 1, queueCapacity: 1 },
      seed: [rootSession(), ...['c1', 'c2', 'c3'].map((id) => childSession(id))],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.scheduler.enqueue(jobFor('c2'));
    const waiting = track(h.scheduler.enqueue(jobFor('c3')));
    await h.settle();
    expect(waiting.settled()).toBe(false);
    expect(await h.scheduler.cancel('c3')).toBe(true);
    await h.settle();
    expect(waiting.settled()).toBe(true);
    const runId = waiting.value()?.runId;
    expect(typesFor(h.rootEvents, 'c3')).toEqual(['sub_session_started', 'sub_session_completed']);
    expect(completionsIn(h.rootEvents, 'c3')).toEqual([expect.objectContaining({ run_id: runId, status: 'cancelled', reason: 'user' })]);

    await h.until(() => h.completions().length === 3);
    expect(h.agent.calls.map((c) => c.sessionId)).toEqual(['c1', 'c2']);
    expect((await h.store.load('c3'))?.metadata).toMatchObject({ last_run_status: 'cancelled', last_run_id: runId });
  });

  it('stop settles every waiting enqueue: each announced run gets exactly one completion', async () => {
    const children = ids('c', 4);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 1, queueCapacity: 1 },
      seed: [rootSession(), ...children.map((id) => childSession(id))],
    });
    const calls = children.map((id) => track(h.scheduler.enqueue(jobFor(id))));
    await h.settle();
    expect(calls.map((c) => c.settled())).toEqual([true, true, false, false]);

    const stopping = h.scheduler.stop({ mode: 'drain' });
    await h.settle();
    expect(calls.every((c) => c.settled())).toBe(true);
    await h.advance(1000);
    await stopping;

    expect(h.completions().map((c) => [c.child_session_id, c.status, c.reason])).toEqual([
      ['c2', 'cancelled', 'shutdown'],
      ['c3', 'cancelled', 'shutdown'],
      ['c4', 'cancelled', 'shutdown'],
      ['c1', 'completed', undefined],
    ]);
    for (const [i, id] of children.entries()) {
      const value = calls[i]?.value();
      if (value) expect(completionsIn(h.rootEvents, id).map((c) => c.run_id)).toEqual([value.runId]);
      else expect(calls[i]?.error()).toBeDefined();
    }
    expect(h.agent.calls.map((c) => c.sessionId)).toEqual(['c1']);
  });
});

describe('de-duplication', () => {
  it('returns the queued run to a second enqueue of the same child and publishes nothing', async () => {
    const h = await createHarness({
      agent: { scripts: { blocker: [{ wait: 1000 }] }, script: [{ wait: 100 }] },
      scheduler: { concurrency: 1 },
      seed: [rootSession(), childSession('blocker'), childSession('c1')],
    });
    await h.scheduler.enqueue(jobFor('blocker'));
    const first = await h.scheduler.enqueue(jobFor('c1'));
    expect(h.scheduler.actor.getSnapshot().context.queue.map((run) => run.job.childSessionId)).toEqual(['c1']);
    const second = await h.scheduler.enqueue(jobFor('c1'));
    expect(first).toEqual({ runId: expect.any(String) as string });
    expect(second).toEqual({ runId: first.runId, deduplicated: true });

    await h.until(() => h.completions().length === 2);
    expect(typesFor(h.rootEvents, 'c1').filter((t) => t === 'sub_session_started')).toHaveLength(1);
    expect(h.agent.calls.filter((call) => call.sessionId === 'c1')).toHaveLength(1);
    expect(completionsIn(h.rootEvents, 'c1')).toEqual([expect.objectContaining({ run_id: first.runId, status: 'completed' })]);
  });

  it('returns the running run to a second enqueue of the same child', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }] }, seed: [rootSession(), childSession('c1')] });
    const first = await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    expect(h.agent.active).toBe(1);
    const second = await h.scheduler.enqueue(jobFor('c1'));
    expect(second).toEqual({ runId: first.runId, deduplicated: true });
    await h.until(() => h.completions().length === 1);
    await h.advance(5000);
    expect(h.completions()).toHaveLength(1);
    expect(typesFor(h.rootEvents, 'c1').filter((t) => t === 'sub_session_started')).toHaveLength(1);
    expect(h.agent.calls).toHaveLength(1);
    expect(h.diagnostics.filter((d) => d.kind === 'duplicate_run')).toEqual([]);
  });

  it('an enqueue from the completion callback creates a new run, not a duplicate of the ending one', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }] }, seed: [rootSession(), childSession('c1')] });
    const again: Promise<{ runId: string; deduplicated?: true }>[] = [];
    h.scheduler.events('root').subscribe(({ event }) => {
      if (event.type === 'sub_session_completed' && again.length === 0) again.push(h.scheduler.enqueue(jobFor('c1')));
    });
    const first = await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 2);
    const second = await again[0]!;
    expect(second.deduplicated).toBeUndefined();
    expect(second.runId).not.toBe(first.runId);
    // Nothing left to answer: the second run is skipped.
    expect(h.completions().map((c) => [c.run_id, c.status])).toEqual([
      [first.runId, 'completed'],
      [second.runId, 'skipped'],
    ]);
  });

  it('creates a new run once the first one completed', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }], answer: 'ok' }, seed: [rootSession(), childSession('c1')] });
    const first = await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);

    // The parent follows up with a new user message, then runs the child again.
    const stored = (await h.store.load('c1'))!;
    stored.messages.push({ id: 'c1-u2', role: 'user', content: 'And now?', created_at: '2026-01-01T00:01:00.000Z' });
    await h.store.save(stored);

    const second = await h.scheduler.enqueue(jobFor('c1'));
    expect(second.deduplicated).toBeUndefined();
    expect(second.runId).not.toBe(first.runId);
    await h.until(() => h.completions().length === 2);
    expect(typesFor(h.rootEvents, 'c1').filter((t) => t === 'sub_session_started')).toHaveLength(2);
    expect(h.completions().map((c) => [c.run_id, c.status])).toEqual([
      [first.runId, 'completed'],
      [second.runId, 'completed'],
    ]);
    expect(h.agent.calls).toHaveLength(2);
    expect((await h.store.load('c1'))?.metadata.last_run_id).toBe(second.runId);
  });
});
