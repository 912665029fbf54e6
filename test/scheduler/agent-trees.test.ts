import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { SessionBusyError, SessionNotFoundError, SproutValidationError } from '../../src/errors.js';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createHarness, type Harness } from '../support/harness.js';
import { fullTree, shapeOf, sizeOf, treeAgent, type TreeNode } from '../support/tree-agent.js';

/** Unwraps nested `sub_session_event`s: the chain of child ids and the innermost event. */
function unwrap(event: AgentEvent): { via: string[]; inner: AgentEvent } {
  const via: string[] = [];
  let inner = event;
  while (inner.type === 'sub_session_event') {
    via.push(inner.child_session_id);
    inner = inner.event;
  }
  return { via, inner };
}

const terminals = (envelopes: readonly SessionEventEnvelope[]): AgentEvent[] =>
  envelopes.map((e) => e.event).filter((e) => e.type === 'complete' || e.type === 'error');

/** The state value of every job actor of the scheduler that is in `running` (lanes aside: few jobs). */
function jobStates(h: Harness): unknown[] {
  const children = h.scheduler.actor.getSnapshot().children as Record<string, { getSnapshot(): { value: unknown; status: string } }>;
  return Object.values(children)
    .filter((child) => child.getSnapshot().status === 'active')
    .map((child) => child.getSnapshot().value);
}

describe('every session can run', () => {
  it("a root's run streams its agent's events on the root's own stream and ends with one terminal complete", async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'hello there' }], answer: 'hi' } });
    const { runId } = await h.scheduler.run('root', { message: 'Say hi' });
    expect(runId).toBe('id-1');
    await h.until(() => terminals(h.rootEvents).length === 1);
    await h.advance(10_000);
    const types = h.rootEvents.map((e) => e.event.type);
    expect(types).toEqual(['token', 'token', 'complete']);
    expect(terminals(h.rootEvents)).toEqual([
      { type: 'complete', usage: expect.objectContaining({ total_tokens: expect.any(Number) as number }) as unknown },
    ]);
    // No sub_session_* for a root: it has no parent.
    expect(types.some((t) => t.startsWith('sub_session'))).toBe(false);
    const stored = await h.store.load('root');
    expect(stored?.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'Plan the work'],
      ['user', 'Say hi'],
      ['assistant', 'hi'],
    ]);
    expect(stored?.metadata).toMatchObject({ last_run_status: 'completed', last_run_id: runId });
    expect(await h.scheduler.getChild('root')).toMatchObject({ status: 'completed', runId, result: 'hi' });
  });

  it("a root's failed run ends with one terminal error and the session is error", async () => {
    const h = await createHarness({ agent: { behavior: 'fail' } });
    await h.scheduler.run('root', { message: 'go' });
    await h.until(() => terminals(h.rootEvents).length === 1);
    expect(terminals(h.rootEvents)).toEqual([{ type: 'error', message: expect.any(String) as string }]);
    expect((await h.store.load('root'))?.metadata.last_run_status).toBe('error');
  });

  it('a second message while the session runs is refused with SessionBusyError, and nothing is appended', async () => {
    const h = await createHarness({ agent: { behavior: 'hang' } });
    const first = await h.scheduler.run('root', { message: 'one' });
    const second = h.scheduler.run('root', { message: 'two' });
    await expect(second).rejects.toBeInstanceOf(SessionBusyError);
    await expect(second).rejects.toMatchObject({ code: 'SESSION_BUSY', sessionId: 'root', runId: first.runId });
    // Two at once: exactly one is accepted.
    const h2 = await createHarness({ agent: { behavior: 'hang' } });
    const both = await Promise.allSettled([h2.scheduler.run('root', { message: 'a' }), h2.scheduler.run('root', { message: 'b' })]);
    expect(both.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(both.filter((r) => r.status === 'rejected').map((r) => r.reason as unknown)).toEqual([expect.any(SessionBusyError)]);
    const stored = await h.store.load('root');
    expect(stored?.messages.filter((m) => m.content === 'two')).toEqual([]);
    // Once it ended, the session runs again.
    await h.scheduler.cancel('root');
    await h.until(() => terminals(h.rootEvents).length === 1);
    expect(terminals(h.rootEvents)[0]).toMatchObject({ type: 'error', message: 'run cancelled (reason: user)' });
    await expect(h.scheduler.run('root', { message: 'three' })).resolves.toMatchObject({ runId: expect.any(String) as string });
  });

  it('bad input is refused with typed errors and the scheduler carries on', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'ok' }] } });
    await expect(h.scheduler.run('nope', { message: 'x' })).rejects.toBeInstanceOf(SessionNotFoundError);
    for (const bad of [undefined, null, {}, { message: '' }, { message: 3 }, { message: 'x', extra: 1 }]) {
      await expect(h.scheduler.run('root', bad as never)).rejects.toBeInstanceOf(SproutValidationError);
    }
    await expect(h.scheduler.run('', { message: 'x' })).rejects.toBeInstanceOf(SproutValidationError);
    await h.scheduler.run('root', { message: 'fine' });
    await h.until(() => terminals(h.rootEvents).length === 1);
  });

  it("a child's own run reports to its parent and to its own stream", async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'a' }] } });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    const { runId } = await h.scheduler.run(childSessionId, { message: 'again' });
    await h.until(() => h.completions().length === 2);
    expect(h.completions()[1]).toMatchObject({ child_session_id: childSessionId, run_id: runId, status: 'completed' });
    expect(terminals(h.eventsOf(childSessionId)).map((e) => e.type)).toEqual(['complete', 'complete']);
  });
});

describe('the tree streams through its root', () => {
  it("carries a grandchild's start, events and completion nested in sub_session_event; each session's own stream has its agent's events", async () => {
    const agent = treeAgent(() => t.clock, shapeOf({ children: [{ children: [{ children: [] }] }] }));
    const t = await createHarness({ agent, scheduler: { concurrency: 2 } });
    await t.scheduler.run('root', { message: 'grow' });
    await t.until(() => terminals(t.rootEvents).length === 1);
    expect(terminals(t.rootEvents)).toEqual([expect.objectContaining({ type: 'complete' })]);
    expect(agent.log.answered.sort()).toEqual(['', '0', '0.0']);

    const child = t.rootEvents.find((e) => e.event.type === 'sub_session_started')?.event as Extract<
      AgentEvent,
      { type: 'sub_session_started' }
    >;
    const childId = child.child_session_id;
    const nested = t.rootEvents.map((e) => unwrap(e.event)).filter((u) => u.via.length === 1 && u.via[0] === childId);
    const grandStarted = nested.find((u) => u.inner.type === 'sub_session_started');
    const grandCompleted = nested.find((u) => u.inner.type === 'sub_session_completed');
    expect(grandStarted?.inner).toMatchObject({ type: 'sub_session_started', parent_session_id: childId });
    expect(grandCompleted?.inner).toMatchObject({ type: 'sub_session_completed', parent_session_id: childId, status: 'completed' });
    const grandId = (grandStarted?.inner as { child_session_id: string }).child_session_id;
    // The grandchild's own tokens reach the root twice wrapped.
    const deep = t.rootEvents.map((e) => unwrap(e.event)).filter((u) => u.via.join('/') === `${childId}/${grandId}`);
    expect(deep.map((u) => u.inner.type)).toEqual(['token', 'token', 'complete']);
    // Each session's own stream: its agent's events, unwrapped, and one terminal event.
    for (const id of [childId, grandId]) {
      const own = t.eventsOf(id).filter((e) => e.event.type !== 'sub_session_event' && !e.event.type.startsWith('sub_session'));
      expect(own.map((e) => e.event.type)).toEqual(['token', 'token', 'complete']);
    }
    // The root's stream is one resumable log: seq 1, 2, 3, … and a replay equals what was seen live.
    expect(t.rootEvents.map((e) => e.seq)).toEqual(t.rootEvents.map((_, i) => i + 1));
    const replay: SessionEventEnvelope[] = [];
    t.scheduler
      .events('root', { afterSeq: 0 })
      .subscribe((e) => replay.push(e))
      .unsubscribe();
    expect(replay).toEqual(t.rootEvents);
  });
});

describe('a waiting parent gives its slot back', () => {
  it('a tree of waiting parents (depth 3) completes at concurrency 1, never more than one agent working', async () => {
    const agent = treeAgent(() => h.clock, shapeOf(fullTree(3, 2)));
    const h = await createHarness({ agent, scheduler: { concurrency: 1, perParentConcurrency: 1 } });
    await h.scheduler.run('root', { message: 'grow' });
    await h.until(() => terminals(h.rootEvents).length === 1);
    expect(terminals(h.rootEvents)).toEqual([expect.objectContaining({ type: 'complete' })]);
    expect(agent.log.answered).toHaveLength(sizeOf(fullTree(3, 2)));
    expect(agent.log.maxWorking).toBe(1);
    expect(h.diagnostics.filter((d) => d.kind === 'scheduler_starved')).toEqual([]);
  });

  it('the issue repro: two children each waiting on two grandchildren end at concurrency 2 (they used to time out)', async () => {
    // Children spawned directly under a passive root (no root run), as before.
    const agent = treeAgent(
      () => h.clock,
      (path) => (path.split('.').length === 1 ? 2 : 0),
    );
    const h = await createHarness({ agent, scheduler: { concurrency: 2, maxRunMs: 4000 } });
    await h.scheduler.spawnChild('root', { title: 'node 0', prompt: 'a' });
    await h.scheduler.spawnChild('root', { title: 'node 1', prompt: 'b' });
    await h.until(() => h.completions().length === 2);
    expect(h.completions().map((c) => c.status)).toEqual(['completed', 'completed']);
    expect(agent.log.maxWorking).toBeLessThanOrEqual(2);
  });

  it('a waiting run sits in running.slot.waiting with its idle watch paused, heartbeats name what it waits on, and it resumes ahead of queued runs', async () => {
    const agent = treeAgent(
      () => h.clock,
      (path) => (path === '0' ? 1 : 0),
      { workMs: 1500 },
    );
    const h = await createHarness({
      agent,
      scheduler: { concurrency: 1, idleTimeoutMs: 2000, heartbeatIntervalMs: 1000 },
    });
    const parent = await h.scheduler.spawnChild('root', { title: 'node 0', prompt: 'a' });
    await h.until(() => h.eventsOf(parent.childSessionId).some((e) => e.event.type === 'sub_session_started'));
    // The parent now waits for its child and gave its slot back: the child runs at concurrency 1.
    await h.until(() =>
      jobStates(h).some((v) => JSON.stringify(v) === JSON.stringify({ running: { slot: 'waiting', idleWatch: 'paused' } })),
    );
    expect(h.scheduler.actor.getSnapshot().context).toMatchObject({ running: 1, waitingRuns: 1 });
    // A run queued meanwhile waits behind the resuming parent.
    await h.scheduler.spawnChild('root', { title: 'node 1', prompt: 'b' });
    await h.advance(1000);
    const heartbeat = h.rootEvents
      .map((e) => e.event)
      .filter((e) => e.type === 'sub_session_heartbeat' && e.child_session_id === parent.childSessionId)
      .at(-1);
    expect(heartbeat).toMatchObject({ waiting_on: [expect.any(String)] });
    await h.until(() => h.completions().length === 2);
    // The parent (waiting 3 s; idle limit 2 s) did not end idle; it resumed before node 1 started.
    expect(h.completions().map((c) => [c.child_session_id, c.status])).toEqual([
      [parent.childSessionId, 'completed'],
      [expect.any(String), 'completed'],
    ]);
    expect(agent.log.started).toEqual(['0', '0.0', '1']);
    expect(agent.log.maxWorking).toBe(1);
  });

  it("a wait from outside the run does not release the run's slot (its agent keeps working)", async () => {
    const agent = treeAgent(
      () => h.clock,
      (path) => (path === '0' ? 1 : 0),
      { workMs: 1000 },
    );
    const h = await createHarness({ agent, scheduler: { concurrency: 1 } });
    const parent = await h.scheduler.spawnChild('root', { title: 'node 0', prompt: 'a' });
    // The test (not the parent's agent) waits for the parent's children: nothing is yielded by it.
    const outside = h.scheduler.waitForChildren(parent.childSessionId, { childSessionIds: [] });
    await outside;
    await h.until(() => h.completions().length === 1);
    expect(agent.log.maxWorking).toBe(1);
    expect(h.scheduler.actor.getSnapshot().context).toMatchObject({ running: 0, waitingRuns: 0 });
  });

  it('stop (drain) with a parent waiting: its queued children end shutdown, it resumes and ends, stop resolves', async () => {
    const agent = treeAgent(
      () => h.clock,
      (path) => (path === '0' ? 3 : 0),
      { workMs: 500 },
    );
    const h = await createHarness({ agent, scheduler: { concurrency: 1 } });
    await h.scheduler.spawnChild('root', { title: 'node 0', prompt: 'a' });
    await h.until(() => h.scheduler.actor.getSnapshot().context.waitingRuns === 1);
    const stopped = h.scheduler.stop({ mode: 'drain' });
    await h.until(() => h.completions().length === 1);
    await stopped;
    expect(h.completions()[0]).toMatchObject({ status: 'completed' });
    const kids = h
      .eventsOf(h.completions()[0]!.child_session_id)
      .flatMap((e) => (e.event.type === 'sub_session_completed' ? [e.event] : []));
    expect(kids.map((k) => k.status).sort()).toEqual(['cancelled', 'cancelled', 'completed']);
  });

  it('random trees (depth ≤ 4, fan-out ≤ 4) complete at concurrency 1–4 with never more than `concurrency` agents working', async () => {
    const node: fc.Memo<TreeNode> = fc.memo((depth) =>
      depth <= 1
        ? fc.constant({ children: [] })
        : fc.record({ children: fc.array(node(depth - 1), { maxLength: 4 }) }).filter((n) => sizeOf(n) <= 60),
    );
    await fc.assert(
      fc.asyncProperty(node(5), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), async (tree, concurrency, perParent) => {
        const agent = treeAgent(() => h.clock, shapeOf(tree));
        const h = await createHarness({ agent, scheduler: { concurrency, perParentConcurrency: perParent, queueCapacity: 8 } });
        await h.scheduler.run('root', { message: 'grow' });
        await h.until(() => terminals(h.rootEvents).length === 1);
        expect(terminals(h.rootEvents)).toEqual([expect.objectContaining({ type: 'complete' })]);
        expect(agent.log.answered).toHaveLength(sizeOf(tree));
        expect(agent.log.maxWorking).toBeLessThanOrEqual(concurrency);
        expect(h.diagnostics.filter((d) => d.kind === 'scheduler_starved')).toEqual([]);
        await h.scheduler.stop();
      }),
      { numRuns: Number(process.env.SPROUT_PROPERTY_RUNS ?? 40) / 2, seed: 20_261_207 },
    );
  });
});

describe("a parent's end reaches its subtree", () => {
  /** A parent that spawns children and hangs (never waits), so its end is decided from outside. */
  function spawnerAgent(
    kids: number,
    options: {
      onParentEnd?: 'cancel' | 'abandon';
      failAfterSpawn?: boolean;
      spawnAfter?: { clock: () => Harness['clock']; ms: number };
    } = {},
  ): AgentRuntime & {
    calls: string[];
  } {
    const calls: string[] = [];
    return {
      calls,
      async execute(session, request) {
        calls.push(session.title);
        if (session.title.startsWith('kid') || session.title.startsWith('late')) {
          await new Promise<void>((_, reject) => request.signal.addEventListener('abort', () => reject(new Error('aborted'))));
          return;
        }
        const delay = options.spawnAfter;
        if (delay !== undefined) await new Promise<void>((resolve) => delay.clock().setTimeout(() => resolve(), delay.ms));
        for (let i = 0; i < kids; i++) {
          await request.spawner?.spawnChild(session.id, {
            title: `kid ${i}`,
            prompt: 'p',
            ...(options.onParentEnd === undefined ? {} : { onParentEnd: options.onParentEnd }),
          });
        }
        if (options.failAfterSpawn === true) throw new Error('parent failed');
        await new Promise<void>((_, reject) => request.signal.addEventListener('abort', () => reject(new Error('aborted'))));
      },
    };
  }

  it('cancelling a parent cancels its running and queued descendants (reason parent) in the same scheduler turn', async () => {
    const agent = spawnerAgent(3);
    const h = await createHarness({ agent, scheduler: { concurrency: 3 } });
    const parent = await h.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await h.until(
      () =>
        h.completions(parent.childSessionId).length === 0 &&
        h.eventsOf(parent.childSessionId).filter((e) => e.event.type === 'sub_session_started').length === 3,
    );
    await h.settle();
    const before = h.scheduler.actor.getSnapshot().context.running;
    expect(before).toBe(3); // parent + two kids running, one kid queued
    await h.scheduler.cancel(parent.childSessionId);
    // Same turn: every job of the subtree was told to cancel (queued ones spawned cancelled).
    const context = h.scheduler.actor.getSnapshot().context;
    expect(context.queue.length).toBe(0);
    expect(context.halted.has(parent.childSessionId)).toBe(true);
    await h.until(() => h.completions(parent.childSessionId).length === 3 && h.completions().length === 1);
    expect(h.completions().map((c) => [c.status, c.reason])).toEqual([['cancelled', 'user']]);
    expect(h.completions(parent.childSessionId).map((c) => [c.status, c.reason])).toEqual([
      ['cancelled', 'parent'],
      ['cancelled', 'parent'],
      ['cancelled', 'parent'],
    ]);
    // The queued kid never ran.
    expect(agent.calls.filter((c) => c.startsWith('kid'))).toHaveLength(2);
  });

  it('with rememberHalts false, a parent’s error still cancels its descendants, but keeps no halt mark', async () => {
    const failing = spawnerAgent(2, { failAfterSpawn: true });
    const h = await createHarness({ agent: failing, scheduler: { concurrency: 4, rememberHalts: false } });
    const parent = await h.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await h.until(() => h.completions().length === 1 && h.completions(parent.childSessionId).length === 2);
    expect(h.completions(parent.childSessionId).map((c) => c.reason)).toEqual(['parent', 'parent']);
    expect(h.scheduler.actor.getSnapshot().context.halted.has(parent.childSessionId)).toBe(false);
    // A child spawned under it later is not cancelled by this scheduler (a deployment that keeps
    // halt marks elsewhere decides): it runs.
    const late = await h.scheduler.spawnChild(parent.childSessionId, { title: 'late', prompt: 'p' });
    await h.until(() => failing.calls.includes('late'));
    expect(h.completions(parent.childSessionId).filter((c) => c.child_session_id === late.childSessionId)).toEqual([]);
    await h.scheduler.cancel(late.childSessionId);
    await h.until(() => h.completions(parent.childSessionId).length === 3);
  });

  it("a parent's error cancels its descendants; a completed parent leaves them running; abandon keeps them", async () => {
    const failing = spawnerAgent(2, { failAfterSpawn: true });
    const h = await createHarness({ agent: failing, scheduler: { concurrency: 4 } });
    const parent = await h.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await h.until(() => h.completions().length === 1 && h.completions(parent.childSessionId).length === 2);
    expect(h.completions()[0]).toMatchObject({ status: 'error', error: 'parent failed' });
    expect(h.completions(parent.childSessionId).map((c) => c.reason)).toEqual(['parent', 'parent']);

    const abandoning = spawnerAgent(2, { failAfterSpawn: true, onParentEnd: 'abandon' });
    const a = await createHarness({ agent: abandoning, scheduler: { concurrency: 4 } });
    const p2 = await a.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await a.until(() => a.completions().length === 1);
    await a.advance(5000);
    expect(a.completions(p2.childSessionId)).toEqual([]);
    const kids = [...a.eventsOf(p2.childSessionId)].flatMap((e) =>
      e.event.type === 'sub_session_started' ? [e.event.child_session_id] : [],
    );
    expect(await Promise.all(kids.map(async (k) => (await a.scheduler.getChild(k))?.status))).toEqual(['running', 'running']);

    // A completed parent: its children run on and complete.
    const completing: AgentRuntime = {
      async execute(session, request) {
        if (session.title === 'parent') {
          await request.spawner?.spawnChild(session.id, { title: 'kid', prompt: 'p' });
          session.messages.push({ id: 'a', role: 'assistant', content: 'done', created_at: '2026-01-01T00:00:00.000Z' });
          return;
        }
        await new Promise<void>((resolve) => c.clock.setTimeout(() => resolve(), 2000));
        session.messages.push({ id: 'k', role: 'assistant', content: 'kid done', created_at: '2026-01-01T00:00:00.000Z' });
      },
    };
    const c = await createHarness({ agent: completing, scheduler: { concurrency: 4 } });
    const p3 = await c.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await c.until(() => c.completions(p3.childSessionId).length === 1);
    expect(c.completions()[0]).toMatchObject({ status: 'completed' });
    expect(c.completions(p3.childSessionId)[0]).toMatchObject({ status: 'completed', result: 'kid done' });
  });

  it('a parent that times out or is cancelled while it waits (holding no slot) ends its subtree; the counts stay right', async () => {
    for (const end of ['timeout', 'cancel'] as const) {
      const agent = treeAgent(
        () => h.clock,
        (path) => (path === '0' ? 2 : 0),
        { workMs: 60_000 },
      );
      const h: Harness = await createHarness({ agent, scheduler: { concurrency: 1, ...(end === 'timeout' ? { maxRunMs: 90_000 } : {}) } });
      const parent = await h.scheduler.spawnChild('root', { title: 'node 0', prompt: 'a' });
      await h.until(() => h.scheduler.actor.getSnapshot().context.waitingRuns === 1);
      if (end === 'cancel') await h.scheduler.cancel(parent.childSessionId);
      await h.until(() => h.completions().length === 1 && h.completions(parent.childSessionId).length === 2);
      expect(h.completions()[0]).toMatchObject(
        end === 'timeout' ? { status: 'error', reason: 'timeout' } : { status: 'cancelled', reason: 'user' },
      );
      expect(h.completions(parent.childSessionId).map((c) => [c.status, c.reason])).toEqual([
        ['cancelled', 'parent'],
        ['cancelled', 'parent'],
      ]);
      expect(h.scheduler.actor.getSnapshot().context).toMatchObject({ running: 0, waitingRuns: 0, resuming: [] });
      expect(agent.log.maxWorking).toBe(1);
    }
  });

  it('a timeout of the parent cancels its children', async () => {
    const h: Harness = await createHarness({
      agent: spawnerAgent(1, { spawnAfter: { clock: () => h.clock, ms: 1000 } }),
      scheduler: { concurrency: 4, maxRunMs: 3000 },
    });
    const parent = await h.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await h.until(() => h.completions().length === 1 && h.completions(parent.childSessionId).length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'error', reason: 'timeout' });
    // The child had its own 3 s limit too; it was cancelled by its parent's end first.
    expect(h.completions(parent.childSessionId)[0]).toMatchObject({ status: 'cancelled', reason: 'parent' });
  });

  it('a spawn under a halted session ends cancelled (reason parent) without its agent being called; a new run clears the halt', async () => {
    const agent = spawnerAgent(0);
    const h = await createHarness({ agent, scheduler: { concurrency: 4 } });
    const parent = await h.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await h.until(() => agent.calls.length === 1);
    await h.scheduler.cancel(parent.childSessionId);
    await h.until(() => h.completions().length === 1);
    const late = await h.scheduler.spawnChild(parent.childSessionId, { title: 'late', prompt: 'p' });
    await h.until(() => h.completions(parent.childSessionId).length === 1);
    expect(h.completions(parent.childSessionId)[0]).toMatchObject({
      child_session_id: late.childSessionId,
      status: 'cancelled',
      reason: 'parent',
    });
    expect(agent.calls).toEqual(['parent']);
    // cancelTree halts too: a grandchild spawned after it never runs.
    const t = await createHarness({ agent: spawnerAgent(1), scheduler: { concurrency: 4 } });
    await t.scheduler.spawnChild('root', { title: 'parent', prompt: 'p' });
    await t.until(() => t.scheduler.actor.getSnapshot().context.running === 2);
    expect(await t.scheduler.cancelTree('root')).toBe(2);
    const after = await t.scheduler.spawnChild('root', { title: 'late', prompt: 'p' });
    await t.until(() => t.completions().length === 2);
    expect(t.completions().find((c) => c.child_session_id === after.childSessionId)).toMatchObject({
      status: 'cancelled',
      reason: 'parent',
    });
    // A message to the halted session runs it again.
    await t.scheduler.run('root', { message: 'start over' });
    await t.until(() => agent.calls.length >= 1 && t.scheduler.actor.getSnapshot().context.halted.has('root') === false);
  });

  it('property: with spawns and cancels interleaved at random, no descendant of a halted session ever runs after the halt', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('spawn' as const), under: fc.nat(20) }),
            fc.record({ op: fc.constant('cancel' as const), target: fc.nat(20) }),
            fc.record({ op: fc.constant('cancelTree' as const), target: fc.nat(20) }),
            fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 300 }) }),
          ),
          { maxLength: 30 },
        ),
        fc.integer({ min: 1, max: 3 }),
        async (ops, concurrency) => {
          const started: { id: string; at: number }[] = [];
          let step = 0;
          const agent: AgentRuntime = {
            async execute(session, request) {
              started.push({ id: session.id, at: step });
              await new Promise<void>((resolve, reject) => {
                const timer = h.clock.setTimeout(() => resolve(), 500);
                request.signal.addEventListener('abort', () => {
                  h.clock.clearTimeout(timer);
                  reject(new Error('aborted'));
                });
              });
            },
          };
          const h = await createHarness({ agent, scheduler: { concurrency, maxDepth: 6 } });
          const sessions = ['root'];
          const parentOf = new Map<string, string>();
          const haltedAt = new Map<string, number>();
          for (const op of ops) {
            step += 1;
            if (op.op === 'spawn') {
              const parent = sessions[op.under % sessions.length] as string;
              const depth = (() => {
                let d = 0;
                for (let p = parentOf.get(parent); p !== undefined; p = parentOf.get(p)) d++;
                return parent === 'root' ? 0 : d + 1;
              })();
              if (depth >= 5) continue;
              const { childSessionId } = await h.scheduler.spawnChild(parent, { title: 't', prompt: 'p' });
              sessions.push(childSessionId);
              parentOf.set(childSessionId, parent);
            } else if (op.op === 'cancel') {
              const target = sessions[op.target % sessions.length] as string;
              if (target === 'root') continue;
              if (await h.scheduler.cancel(target)) haltedAt.set(target, step);
            } else if (op.op === 'cancelTree') {
              const target = sessions[op.target % sessions.length] as string;
              await h.scheduler.cancelTree(target);
              haltedAt.set(target, step);
            } else await h.advance(op.ms);
          }
          await h.scheduler.stop({ mode: 'cancel' });
          for (const run of started) {
            for (let p = parentOf.get(run.id); p !== undefined; p = parentOf.get(p)) {
              const at = haltedAt.get(p);
              // A session halted at step `at`: nothing below it starts afterwards (unless it was run again: never here).
              if (at !== undefined) expect(run.at, `${run.id} started under ${p} halted at ${at}`).toBeLessThan(at);
            }
          }
        },
      ),
      { numRuns: Number(process.env.SPROUT_PROPERTY_RUNS ?? 40), seed: 20_261_208 },
    );
  });
});
