import { describe, expect, it } from 'vitest';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';

describe('one run, start to finish', () => {
  it('spawns a child, streams started → heartbeat → events → completion with the answer', async () => {
    const h = await createHarness({
      agent: {
        script: [{ tokens: 'Hello world', chunk: 5 }, { wait: 12_000 }, { tool: { name: 'search', args: { q: 'x' }, result: 'ok' } }],
        answer: 'The answer is 42',
      },
      scheduler: { heartbeatIntervalMs: 5000 },
    });
    const { childSessionId, runId } = await h.scheduler.spawnChild('root', { title: 'Research', prompt: 'Find X' });
    await h.settle();
    expect((await h.store.load(childSessionId))?.metadata.last_run_status).toBe('running');
    await h.until(() => h.completions().length === 1, 'completion');

    const types = typesFor(h.rootEvents, childSessionId);
    expect(types[0]).toBe('sub_session_started');
    expect(types[1]).toBe('sub_session_heartbeat');
    expect(types.at(-1)).toBe('sub_session_completed');
    // first heartbeat at once, then at 5 s and 10 s during the 12 s wait
    expect(types.filter((t) => t === 'sub_session_heartbeat')).toHaveLength(3);

    const forwarded = h.rootEvents.flatMap((e) => (e.event.type === 'sub_session_event' ? [e.event.event] : []));
    expect(
      forwarded
        .filter((e) => e.type === 'token')
        .map((e) => (e.type === 'token' ? e.content : ''))
        .join(''),
    ).toBe('Hello world');
    expect(forwarded.map((e) => e.type)).toEqual(expect.arrayContaining(['tool_start', 'tool_complete', 'complete']));

    const completion = h.completions()[0];
    expect(completion).toMatchObject({ status: 'completed', run_id: runId, child_session_id: childSessionId, result: 'The answer is 42' });
    expect(completion?.error).toBeUndefined();

    const stored = await h.store.load(childSessionId);
    expect(stored?.metadata).toMatchObject({ last_run_status: 'completed', last_run_id: runId });
    expect(stored?.metadata.last_run_error).toBeUndefined();
    expect(stored?.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'The answer is 42' });

    const child = await h.scheduler.getChild(childSessionId);
    expect(child).toMatchObject({ status: 'completed', runId, result: 'The answer is 42', parentSessionId: 'root', title: 'Research' });
    expect(child?.eventsSeen).toBeGreaterThan(3);
    expect(child?.startedAt).toBe('1970-01-01T00:00:00.000Z');
    expect(child?.endedAt).toBe('1970-01-01T00:00:12.000Z');
  });

  it('seq starts at 1 and grows by one on the parent stream', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'abc', chunk: 1 }] } });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    expect(h.rootEvents.map((e) => e.seq)).toEqual(h.rootEvents.map((_, i) => i + 1));
    expect(h.rootEvents.every((e) => e.sessionId === 'root')).toBe(true);
  });

  it('spawnChild builds a child one level down with system + user messages and pending metadata', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] } });
    const { childSessionId } = await h.scheduler.spawnChild('root', {
      title: 'Review',
      prompt: 'Review the PR',
      responsibility: 'code quality',
      subagentType: 'reviewer',
      model: 'small-model',
    });
    const child = await h.store.load(childSessionId);
    expect(child).toMatchObject({
      kind: 'child',
      parent_session_id: 'root',
      root_session_id: 'root',
      spawn_depth: 1,
      model: 'small-model',
      title: 'Review',
    });
    expect(child?.messages.map((m) => m.role)).toEqual(['system', 'user']);
    expect(child?.messages[0]?.content).toContain('reviewer');
    expect(child?.messages[0]?.content).toContain('code quality');
    expect(child?.messages[1]?.content).toBe('Review the PR');
    expect(h.agent.calls[0]?.model).toBe('small-model');
    await h.scheduler.stop({ mode: 'cancel' });
  });

  it('enqueue returns at once and the parent sees sub_session_started before anything else of the run', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    const result = await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' });
    expect(result).toEqual({ runId: expect.any(String) as string });
    expect(h.rootEvents[0]?.event).toMatchObject({ type: 'sub_session_started', child_session_id: 'c1', run_id: result.runId });
    await h.until(() => h.completions().length === 1);
    expect(h.agent.calls).toHaveLength(1);
  });

  it('waitForChildren resolves with every child result (policy all) and getChild reads the store for unknown runs', async () => {
    const h = await createHarness({
      agent: { script: (session) => [{ wait: session.title === 'slow' ? 9000 : 1000 }], answer: (s) => `answer of ${s.title}` },
    });
    const a = await h.scheduler.spawnChild('root', { title: 'fast', prompt: 'x' });
    const b = await h.scheduler.spawnChild('root', { title: 'slow', prompt: 'y' });
    const waiting = h.scheduler.waitForChildren('root');
    let resolved = false;
    void waiting.then(() => (resolved = true));
    await h.advance(2000);
    expect(resolved).toBe(false);
    await h.advance(8000);
    const results = await waiting;
    expect(results).toEqual([
      { childSessionId: a.childSessionId, runId: a.runId, status: 'completed', result: 'answer of fast' },
      { childSessionId: b.childSessionId, runId: b.runId, status: 'completed', result: 'answer of slow' },
    ]);
  });
});

describe("a child's own stream", () => {
  it('carries its agent events, unwrapped, and ends with one terminal complete (mirrorChildEvents is ignored)', async () => {
    for (const scheduler of [{}, { mirrorChildEvents: false }, { mirrorChildEvents: true }]) {
      const h = await createHarness({ agent: { script: [{ tokens: 'a b' }] }, scheduler });
      const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
      await h.until(() => h.completions().length === 1);
      const own = h.eventsOf(childSessionId).map((e) => e.event);
      expect(own.slice(0, 2)).toEqual([
        { type: 'token', content: 'a ' },
        { type: 'token', content: 'b' },
      ]);
      expect(own.filter((e) => e.type === 'complete' || e.type === 'error')).toEqual([own.at(-1)]);
      expect(own.at(-1)?.type).toBe('complete');
      expect(h.eventsOf(childSessionId).map((e) => e.seq)).toEqual(own.map((_, i) => i + 1));
      // The parent's stream has the same events, wrapped, before the completion.
      const wrapped = h.rootEvents.flatMap((e) => (e.event.type === 'sub_session_event' ? [e.event.event] : []));
      expect(wrapped).toEqual(own);
    }
  });
});
