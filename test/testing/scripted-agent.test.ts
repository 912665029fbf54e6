import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { ExecuteRequest } from '../../src/agents/agent-runtime.js';
import { advance, createTestClock, flushMicrotasks, scriptedAgent, type ScriptStep } from '../../src/testing/index.js';

function session(id = 'child-1', title = 'Research'): Session {
  return {
    id,
    title,
    kind: 'child',
    parent_session_id: 'parent-1',
    root_session_id: 'parent-1',
    spawn_depth: 1,
    model: 'model-x',
    messages: [{ id: 'u1', role: 'user', content: 'go', created_at: '2026-01-01T00:00:00.000Z' }],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  };
}

function request(model = 'model-x'): { request: ExecuteRequest; events: AgentEvent[]; controller: AbortController } {
  const events: AgentEvent[] = [];
  const controller = new AbortController();
  return { request: { model, signal: controller.signal, emit: (event) => events.push(event) }, events, controller };
}

/** Tracks a promise's outcome without awaiting it. */
function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const status: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  promise.then(
    () => {
      status.state = 'resolved';
    },
    (error: unknown) => {
      status.state = 'rejected';
      status.error = error;
    },
  );
  return status;
}

const types = (events: AgentEvent[]): string[] => events.map((event) => event.type);

describe('scriptedAgent ordering', () => {
  it('plays tokens, tool, wait and message in order on the simulated clock, then answers and completes', async () => {
    const clock = createTestClock({ now: Date.UTC(2026, 0, 1) });
    const script: ScriptStep[] = [
      { tokens: 'Hello world' },
      { tool: { name: 'search', args: { q: 'x' }, result: { hits: 2 } } },
      { wait: 1000 },
      { message: { role: 'assistant', content: 'thinking done' } },
    ];
    const agent = scriptedAgent({ clock, script });
    const s = session();
    const { request: req, events } = request();
    const status = track(agent.execute(s, req));

    expect(events).toEqual([
      { type: 'token', content: 'Hello ' },
      { type: 'token', content: 'world' },
      { type: 'tool_start', tool_call_id: 'call-child-1-1', tool_name: 'search', arguments: { q: 'x' } },
      { type: 'tool_complete', tool_call_id: 'call-child-1-1', result: { hits: 2 } },
    ]);
    await advance(clock, 999);
    expect(status.state).toBe('pending');
    expect(events).toHaveLength(4);

    await advance(clock, 1);
    expect(status.state).toBe('resolved');
    expect(events.slice(4)).toEqual([{ type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 2, total_tokens: 2 } }]);
    expect(s.messages.map((m) => [m.role, m.content])).toEqual([
      ['user', 'go'],
      ['tool', '{"hits":2}'],
      ['assistant', 'thinking done'],
      ['assistant', 'Done: Research'],
    ]);
    expect(s.messages[1]).toMatchObject({ tool_call_id: 'call-child-1-1', created_at: '2026-01-01T00:00:00.000Z' });
    expect(s.messages[2]!.created_at).toBe('2026-01-01T00:00:01.000Z');
  });

  it('splits tokens by chunk size, spaces them `every` ms apart, and emits reasoning tokens', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({
      clock,
      script: [
        { tokens: 'abcde', chunk: 2, every: 10 },
        { tokens: 'hm', reasoning: true },
      ],
      answer: null,
    });
    const { request: req, events } = request();
    const status = track(agent.execute(session(), req));
    expect(events).toEqual([{ type: 'token', content: 'ab' }]);
    await advance(clock, 10);
    expect(events.map((e) => ('content' in e ? e.content : e.type))).toEqual(['ab', 'cd']);
    await advance(clock, 10);
    expect(events).toEqual([
      { type: 'token', content: 'ab' },
      { type: 'token', content: 'cd' },
      { type: 'token', content: 'e' },
      { type: 'reasoning_token', content: 'hm' },
      { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 4, total_tokens: 4 } },
    ]);
    expect(status.state).toBe('resolved');
  });

  it('reports a failing tool with tool_error and a tool message, and keeps going', async () => {
    const agent = scriptedAgent({
      clock: createTestClock(),
      script: [{ tool: { name: 'fetch', id: 't1', error: 'offline' } }],
      answer: 'ok',
    });
    const s = session();
    const { request: req, events } = request();
    await agent.execute(s, req);
    expect(types(events)).toEqual(['tool_start', 'tool_error', 'complete']);
    expect(events[1]).toEqual({ type: 'tool_error', tool_call_id: 't1', error: 'offline' });
    expect(s.messages.slice(1).map((m) => m.content)).toEqual(['offline', 'ok']);
  });

  it('waits `duration` on the clock between tool_start and tool_complete', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ tool: { name: 'slow', result: 'r', duration: 500 } }] });
    const { request: req, events } = request();
    const status = track(agent.execute(session(), req));
    expect(types(events)).toEqual(['tool_start']);
    await advance(clock, 500);
    expect(types(events)).toEqual(['tool_start', 'tool_complete', 'complete']);
    expect(status.state).toBe('resolved');
  });
});

describe('scriptedAgent abort', () => {
  it('rejects promptly with an AbortError when aborted during a wait, clearing the timer', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ tokens: 'a' }, { wait: 60_000 }, { tokens: 'never' }] });
    const { request: req, events, controller } = request();
    const status = track(agent.execute(session(), req));
    await flushMicrotasks();
    expect(clock.pendingTimers()).toBe(1);

    controller.abort(new Error('user cancel'));
    await flushMicrotasks();
    expect(status.state).toBe('rejected');
    expect((status.error as Error).name).toBe('AbortError');
    expect(clock.pendingTimers()).toBe(0);
    expect(clock.now()).toBe(0);
    expect(types(events)).toEqual(['token']);
    expect(agent.calls[0]).toMatchObject({ outcome: 'rejected', settledAt: 0 });
  });

  it('rejects a hang with an AbortError once aborted', async () => {
    const agent = scriptedAgent({ clock: createTestClock(), behavior: 'hang' });
    const { request: req, controller } = request();
    const promise = agent.execute(session(), req);
    controller.abort();
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('rejects at once when the signal is already aborted, emitting nothing', async () => {
    const agent = scriptedAgent({ clock: createTestClock() });
    const { request: req, events, controller } = request();
    controller.abort();
    await expect(agent.execute(session(), req)).rejects.toMatchObject({ name: 'AbortError' });
    expect(events).toEqual([]);
  });

  it('keeps hanging after abort once ignoreAbort ran', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, behavior: 'ignore-abort' });
    const { request: req, controller } = request();
    const status = track(agent.execute(session(), req));
    controller.abort();
    await advance(clock, 3_600_000);
    expect(status.state).toBe('pending');
    expect(agent.active).toBe(1);
  });

  it('keeps waiting after abort once ignoreAbort ran, then finishes normally', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ ignoreAbort: true }, { wait: 100 }, { tokens: 'late' }] });
    const { request: req, events, controller } = request();
    const status = track(agent.execute(session(), req));
    controller.abort();
    await advance(clock, 99);
    expect(status.state).toBe('pending');
    await advance(clock, 1);
    expect(status.state).toBe('resolved');
    expect(types(events)).toEqual(['token', 'complete']);
  });
});

describe('scriptedAgent failures', () => {
  it('throws synchronously from execute itself on throwSync, after the steps before it', () => {
    const agent = scriptedAgent({ clock: createTestClock(), script: [{ tokens: 'x' }, { throwSync: 'boom' }] });
    const { request: req, events } = request();
    expect(() => agent.execute(session(), req)).toThrow('boom');
    expect(types(events)).toEqual(['token']);
    expect(agent.calls[0]).toMatchObject({ outcome: 'threw' });
    expect(agent.active).toBe(0);
  });

  it('rejects on fail without answer or complete', async () => {
    const agent = scriptedAgent({ clock: createTestClock(), script: [{ tokens: 'x' }, { fail: 'model overloaded' }] });
    const s = session();
    const { request: req, events } = request();
    await expect(agent.execute(s, req)).rejects.toThrow('model overloaded');
    expect(types(events)).toEqual(['token']);
    expect(s.messages).toHaveLength(1);
  });

  it('emits emitAfterResolve events only after resolving, when the clock reaches the delay', async () => {
    const clock = createTestClock();
    const late: AgentEvent = { type: 'token', content: 'too late' };
    const agent = scriptedAgent({ clock, script: [{ emitAfterResolve: [late], delay: 50 }] });
    const { request: req, events } = request();
    await agent.execute(session(), req);
    expect(types(events)).toEqual(['complete']);
    await advance(clock, 49);
    expect(events).toHaveLength(1);
    await advance(clock, 1);
    expect(events.at(-1)).toEqual(late);
  });

  it('keeps errors thrown by emit from late timers in lateEmitErrors', async () => {
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ emitAfterResolve: [{ type: 'token', content: 'x' }] }], answer: null });
    let resolved = false;
    const req: ExecuteRequest = {
      model: 'm',
      signal: new AbortController().signal,
      emit: () => {
        if (resolved) throw new Error('run is over');
      },
    };
    await agent.execute(session(), req);
    resolved = true;
    await advance(clock, 0);
    expect(agent.lateEmitErrors).toEqual([new Error('run is over')]);
  });
});

describe('scriptedAgent scripts and answers', () => {
  it('appends `Done: <title>` by default, a custom answer, or none', async () => {
    const clock = createTestClock();
    for (const [answer, expected] of [
      [undefined, 'Done: Research'],
      [(s: Session) => `answer for ${s.id}`, 'answer for child-1'],
      [null, 'go'],
    ] as const) {
      const s = session();
      await scriptedAgent({ clock, ...(answer === undefined ? {} : { answer }) }).execute(s, request().request);
      expect(s.messages.at(-1)!.content).toBe(expected);
    }
  });

  it('streams the answer as tokens when no script is given', async () => {
    const { request: req, events } = request();
    await scriptedAgent({ clock: createTestClock(), answer: 'All done' }).execute(session(), req);
    expect(
      events
        .filter((e) => e.type === 'token')
        .map((e) => e.content)
        .join(''),
    ).toBe('All done');
  });

  it('prefers per-session scripts, then the script function', async () => {
    const seen: string[] = [];
    const agent = scriptedAgent({
      clock: createTestClock(),
      scripts: { special: [{ fail: 'special fails' }] },
      script: (s, req) => {
        seen.push(`${s.id}/${req.model}`);
        return [{ tokens: s.id }];
      },
    });
    await expect(agent.execute(session('special'), request().request)).rejects.toThrow('special fails');
    const { request: req, events } = request('model-y');
    await agent.execute(session('other'), req);
    expect(seen).toEqual(['other/model-y']);
    expect(events[0]).toEqual({ type: 'token', content: 'other' });
  });

  it('records calls and tracks active / maxActive', async () => {
    const clock = createTestClock({ now: 1000 });
    const agent = scriptedAgent({ clock, script: (s) => [{ wait: Number(s.id.slice(1)) }] });
    const runs = ['w100', 'w200', 'w300'].map((id) => track(agent.execute(session(id), request().request)));
    expect(agent.active).toBe(3);
    expect(agent.maxActive).toBe(3);
    await advance(clock, 150);
    expect(runs.map((r) => r.state)).toEqual(['resolved', 'pending', 'pending']);
    expect(agent.active).toBe(2);
    await advance(clock, 150);
    expect(agent.active).toBe(0);
    expect(agent.maxActive).toBe(3);
    expect(agent.calls.map((c) => [c.sessionId, c.model, c.startedAt, c.settledAt, c.outcome])).toEqual([
      ['w100', 'model-x', 1000, 1100, 'resolved'],
      ['w200', 'model-x', 1000, 1200, 'resolved'],
      ['w300', 'model-x', 1000, 1300, 'resolved'],
    ]);
  });
});
