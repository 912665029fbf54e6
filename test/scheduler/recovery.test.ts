import { describe, expect, it } from 'vitest';
import type { Session } from '../../machines/session.schema.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';
import { completionsIn, plainStore } from '../support/batch-b.js';

/** A child whose last run a crash left behind (or that finished), at a given creation time. */
function childWithStatus(id: string, status: string, overrides: Partial<Session> = {}): Session {
  return childSession(id, overrides.parent_session_id ?? 'root', {
    metadata: { last_run_status: status, last_run_id: `old-${id}` },
    ...overrides,
  });
}

const answered = (id: string): Session['messages'] => [
  { id: `${id}-s`, role: 'system', content: 'You are a sub-agent', created_at: '2026-01-01T00:00:00.000Z' },
  { id: `${id}-u`, role: 'user', content: `Do ${id}`, created_at: '2026-01-01T00:00:00.000Z' },
  { id: `${id}-a`, role: 'assistant', content: 'half an answer', created_at: '2026-01-01T00:00:01.000Z' },
];

const seed = (): Session[] => [
  rootSession('root', { metadata: { last_run_status: 'running' } }),
  childWithStatus('c-running', 'running', { created_at: '2026-01-01T00:00:01.000Z' }),
  childWithStatus('c-pending', 'pending', { created_at: '2026-01-01T00:00:02.000Z', metadata: { last_run_status: 'pending' } }),
  childWithStatus('c-done', 'completed', { created_at: '2026-01-01T00:00:03.000Z', messages: answered('c-done') }),
];

describe('recovery on start (recover: interrupt, the default)', () => {
  it('ends runs left running or pending as error/interrupted and reports them', async () => {
    const h = await createHarness({ start: false, seed: seed() });
    const doneBefore = await h.store.load('c-done');
    const rootBefore = await h.store.load('root');

    const report = await h.scheduler.start();
    expect(report).toEqual({ interrupted: ['c-running', 'c-pending'], requeued: [], completed: [], failed: [] });

    for (const id of ['c-running', 'c-pending']) {
      const stored = await h.store.load(id);
      expect(stored?.metadata.last_run_status).toBe('error');
      expect(stored?.metadata.last_run_error).toBe(INTERRUPTED_ERROR);
    }
    expect((await h.store.load('c-running'))?.metadata.last_run_id).toBe('old-c-running');
    // The finished child and the root are left alone.
    expect(await h.store.load('c-done')).toEqual(doneBefore);
    expect(await h.store.load('root')).toEqual(rootBefore);

    const completions = completionsIn(h.eventsOf('root'));
    expect(completions).toHaveLength(2);
    expect(completions.map((c) => c.child_session_id).sort()).toEqual(['c-pending', 'c-running']);
    for (const completion of completions) {
      expect(completion).toMatchObject({
        type: 'sub_session_completed',
        parent_session_id: 'root',
        status: 'error',
        reason: 'interrupted',
        error: INTERRUPTED_ERROR,
      });
    }
    expect(completions.find((c) => c.child_session_id === 'c-running')?.run_id).toBe('old-c-running');
    expect(completions.find((c) => c.child_session_id === 'c-pending')?.run_id).toEqual(expect.any(String));
    expect(h.agent.calls).toEqual([]);
    expect(h.diagnostics).toEqual([]);
  });

  it('publishes each completion on its own parent', async () => {
    const h = await createHarness({
      start: false,
      seed: [
        rootSession(),
        rootSession('root2'),
        childWithStatus('a', 'running'),
        childWithStatus('b', 'running', { parent_session_id: 'root2' }),
      ],
    });
    const root2 = h.eventsOf('root2');
    await h.scheduler.start();
    expect(completionsIn(h.eventsOf('root')).map((c) => c.child_session_id)).toEqual(['a']);
    expect(completionsIn(root2).map((c) => [c.child_session_id, c.parent_session_id])).toEqual([['b', 'root2']]);
  });

  it('status queries read the interrupted runs from the store after recovery', async () => {
    const h = await createHarness({ start: false, seed: seed() });
    await h.scheduler.start();
    expect(await h.scheduler.getChild('c-running')).toMatchObject({ status: 'error', error: INTERRUPTED_ERROR, runId: 'old-c-running' });
    expect(await h.scheduler.waitForChildren('root', { childSessionIds: ['c-running', 'c-pending'] })).toEqual([
      expect.objectContaining({ childSessionId: 'c-running', status: 'error', error: INTERRUPTED_ERROR }),
      expect.objectContaining({ childSessionId: 'c-pending', status: 'error', error: INTERRUPTED_ERROR }),
    ]);
  });

  it('start() twice recovers once', async () => {
    const h = await createHarness({ start: false, seed: seed() });
    const first = await h.scheduler.start();
    const second = await h.scheduler.start();
    expect(second).toEqual(first);
    expect(completionsIn(h.eventsOf('root'))).toHaveLength(2);
  });

  it('the scheduler takes new work after recovery', async () => {
    const h = await createHarness({ start: false, seed: seed() });
    await h.scheduler.start();
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'New', prompt: 'go' });
    await h.until(() => completionsIn(h.eventsOf('root'), childSessionId).length === 1);
    expect(completionsIn(h.eventsOf('root'), childSessionId)[0]?.status).toBe('completed');
  });
});

describe('recovery with recover: requeue', () => {
  it('queues a pending child with a pending user message again and runs it to completion', async () => {
    const h = await createHarness({
      start: false,
      agent: { script: [{ wait: 1000 }], answer: 'recovered answer' },
      scheduler: { recover: 'requeue' },
      seed: [
        rootSession(),
        // Its last message is the assistant's: nothing to run again, so it is interrupted.
        childWithStatus('c-running', 'running', { messages: answered('c-running'), created_at: '2026-01-01T00:00:01.000Z' }),
        childWithStatus('c-pending', 'pending', { created_at: '2026-01-01T00:00:02.000Z' }),
        childWithStatus('c-done', 'completed', { messages: answered('c-done') }),
      ],
    });
    const report = await h.scheduler.start();
    expect(report).toEqual({ interrupted: ['c-running'], requeued: ['c-pending'], completed: [], failed: [] });

    const root = h.eventsOf('root');
    expect(root.map((e) => e.event.type)).toContain('sub_session_started');
    await h.until(() => completionsIn(root, 'c-pending').length === 1, 'requeued child completed');
    expect(completionsIn(root, 'c-pending')[0]).toMatchObject({ status: 'completed', result: 'recovered answer' });
    expect(completionsIn(root, 'c-running')[0]).toMatchObject({ status: 'error', reason: 'interrupted' });
    expect(h.agent.calls.map((c) => c.sessionId)).toEqual(['c-pending']);

    const stored = await h.store.load('c-pending');
    expect(stored?.metadata.last_run_status).toBe('completed');
    expect(stored?.metadata.last_run_error).toBeUndefined();
    expect(stored?.metadata.last_run_id).not.toBe('old-c-pending');
    expect(stored?.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'recovered answer' });
  });
});

describe('stores without listByRunStatus', () => {
  it('skips recovery without error and leaves the sessions as they were', async () => {
    const inner = new MemorySessionStore();
    const store: SessionStore = plainStore(inner);
    expect('listByRunStatus' in store).toBe(false);
    const h = await createHarness({ start: false, store, seed: seed() });

    const report = await h.scheduler.start();
    expect(report).toEqual({ interrupted: [], requeued: [], completed: [], failed: [] });
    expect((await inner.load('c-running'))?.metadata.last_run_status).toBe('running');
    expect((await inner.load('c-pending'))?.metadata.last_run_status).toBe('pending');
    expect(h.eventsOf('root')).toEqual([]);
    expect(h.diagnostics).toEqual([]);

    // And the scheduler works.
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'T', prompt: 'p' });
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ child_session_id: childSessionId, status: 'completed' });
  });

  it('a listByRunStatus that rejects is reported and start() still resolves', async () => {
    const inner = new MemorySessionStore();
    const failure = new Error('index unavailable');
    const store: SessionStore = { ...plainStore(inner), listByRunStatus: () => Promise.reject(failure) };
    const h = await createHarness({ start: false, store, seed: seed() });
    await expect(h.scheduler.start()).resolves.toEqual({ interrupted: [], requeued: [], completed: [], failed: [] });
    expect(h.diagnostics).toEqual([{ kind: 'recovery_failed', childSessionId: '*', error: failure }]);
  });

  it('one child whose save fails is reported as failed; the others are still recovered', async () => {
    const inner = new MemorySessionStore();
    const store: SessionStore = {
      ...plainStore(inner),
      save: (session) =>
        session.id === 'c-running' && session.metadata.last_run_status === 'error'
          ? Promise.reject(new Error('disk full'))
          : inner.save(session),
      listByRunStatus: (statuses) => inner.listByRunStatus(statuses),
    };
    const h = await createHarness({ start: false, store, seed: seed() });
    const report = await h.scheduler.start();
    expect(report).toEqual({ interrupted: ['c-pending'], requeued: [], completed: [], failed: ['c-running'] });
    expect(h.diagnostics).toEqual([{ kind: 'recovery_failed', childSessionId: 'c-running', error: new Error('disk full') }]);
    expect(completionsIn(h.eventsOf('root')).map((c) => c.child_session_id)).toEqual(['c-pending']);
  });
});
