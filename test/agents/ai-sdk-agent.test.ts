import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { simulateReadableStream, tool } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { SimulatedClock } from 'xstate';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { agentEventSchema } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { sessionSchema } from '../../machines/session.schema.js';
import { AgentAbortedError, AgentProviderError, aiSdkAgent, toModelMessages } from '../../src/agents/ai-sdk/index.js';
import type { AiSdkAgentOptions } from '../../src/agents/ai-sdk/index.js';
import { SproutValidationError } from '../../src/errors.js';

type Part = LanguageModelV3StreamPart;

const usage = (input: number, output: number) => ({
  inputTokens: { total: input, noCache: input, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: output, text: output, reasoning: undefined },
});
const finish = (reason: 'stop' | 'tool-calls', input = 10, output = 5): Part => ({
  type: 'finish',
  finishReason: { unified: reason, raw: reason },
  usage: usage(input, output),
});
const text = (...deltas: string[]): Part[] => [
  { type: 'text-start', id: 't' },
  ...deltas.map((delta): Part => ({ type: 'text-delta', id: 't', delta })),
  { type: 'text-end', id: 't' },
];
const reasoning = (...deltas: string[]): Part[] => [
  { type: 'reasoning-start', id: 'r' },
  ...deltas.map((delta): Part => ({ type: 'reasoning-delta', id: 'r', delta })),
  { type: 'reasoning-end', id: 'r' },
];
const toolCall = (toolCallId: string, toolName: string, input: unknown): Part => ({
  type: 'tool-call',
  toolCallId,
  toolName,
  input: JSON.stringify(input),
});

/** One `doStream` result per model step, streamed without timers. */
const step = (...parts: Part[]) => ({
  stream: simulateReadableStream<Part>({
    chunks: [{ type: 'stream-start', warnings: [] }, ...parts],
    initialDelayInMs: null,
    chunkDelayInMs: null,
  }),
});

function childSession(): Session {
  return sessionSchema.parse({
    id: 'child-1',
    title: 'child',
    kind: 'child',
    parent_session_id: 'root-1',
    root_session_id: 'root-1',
    spawn_depth: 1,
    model: 'mock-model',
    messages: [
      { id: 'm1', role: 'system', content: 'You are a child agent.', created_at: '2026-01-01T00:00:00.000Z' },
      { id: 'm2', role: 'user', content: 'What is 2 + 3?', created_at: '2026-01-01T00:00:00.000Z' },
    ],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  });
}

async function run(options: AiSdkAgentOptions, signal = new AbortController().signal) {
  const session = childSession();
  const events: AgentEvent[] = [];
  let ids = 0;
  const clock = new SimulatedClock();
  clock.set(Date.UTC(2026, 0, 2));
  const agent = aiSdkAgent({ clock, generateId: () => `gen-${++ids}`, ...options });
  const outcome = await agent
    .execute(session, { model: 'mock-model', signal, emit: (event) => events.push(agentEventSchema.parse(event)) })
    .then(
      () => ({ ok: true as const }),
      (error: unknown) => ({ ok: false as const, error }),
    );
  return { session, events, outcome, appended: session.messages.slice(2) };
}

const add = tool({
  description: 'Adds two numbers',
  inputSchema: z.object({ a: z.number(), b: z.number() }),
  execute: ({ a, b }) => ({ sum: a + b }),
});
const explode = tool({
  description: 'Always fails',
  inputSchema: z.object({}),
  execute: (): string => {
    throw new Error('tool blew up');
  },
});

describe('aiSdkAgent with the AI SDK mock model', () => {
  it('streams text deltas as token events, then complete with usage', async () => {
    const model = new MockLanguageModelV3({ doStream: step(...text('Hel', 'lo', '!'), finish('stop', 12, 3)) });
    const { events, outcome, appended } = await run({ model });

    expect(outcome).toEqual({ ok: true });
    expect(events).toEqual([
      { type: 'token', content: 'Hel' },
      { type: 'token', content: 'lo' },
      { type: 'token', content: '!' },
      { type: 'complete', usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 } },
    ]);
    expect(appended).toEqual([{ id: 'gen-1', role: 'assistant', content: 'Hello!', created_at: '2026-01-02T00:00:00.000Z' }]);
  });

  it('sends the session messages (and the system option) to the model', async () => {
    const model = new MockLanguageModelV3({ doStream: step(...text('5'), finish('stop')) });
    await run({ model, system: 'Be brief.' });

    const prompt = model.doStreamCalls[0]!.prompt;
    expect(prompt.map((m) => m.role)).toEqual(['system', 'system', 'user']);
    expect(prompt[0]).toMatchObject({ role: 'system', content: 'Be brief.' });
    expect(prompt[2]).toMatchObject({ role: 'user', content: [{ type: 'text', text: 'What is 2 + 3?' }] });
  });

  it('streams reasoning as reasoning_token and keeps it on the assistant message', async () => {
    const model = new MockLanguageModelV3({ doStream: step(...reasoning('Two plus ', 'three.'), ...text('5'), finish('stop')) });
    const { events, appended } = await run({ model });

    expect(events.slice(0, 3)).toEqual([
      { type: 'reasoning_token', content: 'Two plus ' },
      { type: 'reasoning_token', content: 'three.' },
      { type: 'token', content: '5' },
    ]);
    expect(appended).toEqual([expect.objectContaining({ role: 'assistant', content: '5', reasoning: 'Two plus three.' })]);
  });

  it('runs one tool call, feeds the result back, and appends assistant + tool + answer messages', async () => {
    const model = new MockLanguageModelV3({
      doStream: [
        step(toolCall('call-1', 'add', { a: 2, b: 3 }), finish('tool-calls', 10, 4)),
        step(...text('It is 5.'), finish('stop', 20, 3)),
      ],
    });
    const { events, outcome, appended } = await run({ model, tools: { add } });

    expect(outcome).toEqual({ ok: true });
    expect(events).toEqual([
      { type: 'tool_start', tool_call_id: 'call-1', tool_name: 'add', arguments: { a: 2, b: 3 } },
      { type: 'tool_complete', tool_call_id: 'call-1', result: { success: true, result: '{"sum":5}' } },
      { type: 'token', content: 'It is 5.' },
      { type: 'complete', usage: { prompt_tokens: 30, completion_tokens: 7, total_tokens: 37 } },
    ]);
    expect(appended).toEqual([
      {
        id: 'gen-1',
        role: 'assistant',
        content: '',
        created_at: '2026-01-02T00:00:00.000Z',
        tool_calls: [{ id: 'call-1', type: 'function', function: { name: 'add', arguments: '{"a":2,"b":3}' } }],
      },
      { id: 'gen-2', role: 'tool', content: '{"sum":5}', tool_call_id: 'call-1', tool_name: 'add', created_at: '2026-01-02T00:00:00.000Z' },
      { id: 'gen-3', role: 'assistant', content: 'It is 5.', created_at: '2026-01-02T00:00:00.000Z' },
    ]);
    // The second step saw the tool result.
    const second = model.doStreamCalls[1]!.prompt;
    expect(second.at(-1)).toMatchObject({
      role: 'tool',
      content: [{ type: 'tool-result', toolCallId: 'call-1', toolName: 'add', output: { type: 'json', value: { sum: 5 } } }],
    });
  });

  it('runs several tool calls of one step, reporting a failing tool as tool_error without failing the run', async () => {
    const model = new MockLanguageModelV3({
      doStream: [
        step(
          toolCall('c1', 'add', { a: 1, b: 1 }),
          toolCall('c2', 'add', { a: 2, b: 2 }),
          toolCall('c3', 'explode', {}),
          finish('tool-calls'),
        ),
        step(...text('Done.'), finish('stop')),
      ],
    });
    const { events, outcome, appended } = await run({ model, tools: { add, explode } });

    expect(outcome).toEqual({ ok: true });
    const starts = events.filter((e) => e.type === 'tool_start');
    expect(starts.map((e) => e.tool_call_id)).toEqual(['c1', 'c2', 'c3']);
    expect(events).toContainEqual({ type: 'tool_complete', tool_call_id: 'c1', result: { success: true, result: '{"sum":2}' } });
    expect(events).toContainEqual({ type: 'tool_complete', tool_call_id: 'c2', result: { success: true, result: '{"sum":4}' } });
    expect(events).toContainEqual({ type: 'tool_error', tool_call_id: 'c3', error: 'tool blew up' });
    // Each tool event follows its own tool_start.
    for (const id of ['c1', 'c2', 'c3']) {
      const start = events.findIndex((e) => e.type === 'tool_start' && e.tool_call_id === id);
      const end = events.findIndex((e) => (e.type === 'tool_complete' || e.type === 'tool_error') && e.tool_call_id === id);
      expect(start).toBeLessThan(end);
    }
    expect(appended[0]).toMatchObject({ role: 'assistant', tool_calls: [{ id: 'c1' }, { id: 'c2' }, { id: 'c3' }] });
    expect(appended.filter((m) => m.role === 'tool')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ tool_call_id: 'c1', content: '{"sum":2}' }),
        expect.objectContaining({ tool_call_id: 'c2', content: '{"sum":4}' }),
        expect.objectContaining({ tool_call_id: 'c3', content: 'tool blew up', is_error: true }),
      ]),
    );
    expect(appended.at(-1)).toMatchObject({ role: 'assistant', content: 'Done.' });
  });

  it('loops over several steps and stops at maxSteps', async () => {
    const looping = Array.from({ length: 5 }, (_, i) => step(toolCall(`c${i}`, 'add', { a: i, b: 1 }), finish('tool-calls', 1, 1)));
    const model = new MockLanguageModelV3({ doStream: looping });
    const { events, outcome, appended } = await run({ model, tools: { add }, maxSteps: 3 });

    expect(outcome).toEqual({ ok: true });
    expect(model.doStreamCalls).toHaveLength(3);
    expect(events.filter((e) => e.type === 'tool_complete')).toHaveLength(3);
    expect(events.at(-1)).toEqual({ type: 'complete', usage: { prompt_tokens: 3, completion_tokens: 3, total_tokens: 6 } });
    expect(appended.map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant', 'tool', 'assistant', 'tool']);
  });

  it('picks the model from the job model string when given a function', async () => {
    const models: string[] = [];
    const model = new MockLanguageModelV3({ doStream: step(...text('ok'), finish('stop')) });
    const { outcome } = await run({ model: (name) => (models.push(name), model) });
    expect(outcome).toEqual({ ok: true });
    expect(models).toEqual(['mock-model']);
  });

  it('rejects with AgentProviderError naming the cause when the provider fails', async () => {
    const model = new MockLanguageModelV3({
      doStream: () =>
        Promise.reject(
          Object.assign(new Error('Service Unavailable'), {
            statusCode: 503,
            url: 'https://llm.example/v1/chat/completions',
            responseBody: '{"error":"overloaded"}',
          }),
        ),
    });
    const { outcome, appended } = await run({ model, callSettings: { maxRetries: 0 } });

    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: unknown }).error;
    expect(error).toBeInstanceOf(AgentProviderError);
    expect(error).toMatchObject({ code: 'AGENT_PROVIDER_ERROR', statusCode: 503 });
    expect((error as Error).message).toContain('HTTP 503');
    expect((error as Error).message).toContain('overloaded');
    expect(appended).toEqual([]);
  });

  it('reports a call of an unknown tool as tool_error and lets the model answer', async () => {
    const model = new MockLanguageModelV3({
      doStream: [step(toolCall('c1', 'teleport', { to: 'mars' }), finish('tool-calls')), step(...text('I cannot.'), finish('stop'))],
    });
    const { events, outcome } = await run({ model, tools: { add } });

    expect(outcome).toEqual({ ok: true });
    expect(events[0]).toEqual({ type: 'tool_start', tool_call_id: 'c1', tool_name: 'teleport', arguments: { to: 'mars' } });
    expect(events[1]).toMatchObject({ type: 'tool_error', tool_call_id: 'c1', error: expect.stringContaining('teleport') as string });
    expect(events.at(-1)).toMatchObject({ type: 'complete' });
  });

  it('names the last HTTP failure and the attempt count after retries', () => {
    const attempt = Object.assign(new Error('Too Many Requests'), { statusCode: 429, url: 'https://llm.example/v1/chat/completions' });
    const retry = Object.assign(new Error('Failed after 3 attempts.'), { lastError: attempt, errors: [attempt, attempt, attempt] });
    const error = AgentProviderError.from(retry);
    expect(error.message).toBe(
      'model provider failed: HTTP 429 from https://llm.example/v1/chat/completions: Too Many Requests (after 3 attempts)',
    );
    expect(error.statusCode).toBe(429);
    expect(error.cause).toBe(retry);
  });

  it('rejects when the stream carries an error part, keeping the messages of finished steps', async () => {
    const model = new MockLanguageModelV3({
      doStream: [
        step(toolCall('c1', 'add', { a: 1, b: 2 }), finish('tool-calls')),
        step(...text('par'), { type: 'error', error: new Error('invalid JSON in chunk') }),
      ],
    });
    const { events, outcome, appended } = await run({ model, tools: { add } });

    expect(outcome.ok).toBe(false);
    expect((outcome as { error: Error }).error.message).toMatch(/model provider failed: .*invalid JSON in chunk/);
    expect(events.some((e) => e.type === 'complete')).toBe(false);
    expect(appended.map((m) => m.role)).toEqual(['assistant', 'tool']);
  });

  it('rejects promptly with an AbortError when aborted mid-stream, and aborts the model call', async () => {
    const controller = new AbortController();
    const stalled = new ReadableStream<Part>({
      start(c) {
        c.enqueue({ type: 'stream-start', warnings: [] });
        for (const part of text('one ', 'two ')) if (part.type !== 'text-end') c.enqueue(part);
        // …and then nothing: the provider hangs and ignores the abort signal.
      },
    });
    const model = new MockLanguageModelV3({ doStream: { stream: stalled } });
    const events: AgentEvent[] = [];
    const session = childSession();
    const running = aiSdkAgent({ model }).execute(session, {
      model: 'mock-model',
      signal: controller.signal,
      emit: (event) => {
        events.push(event);
        if (event.type === 'token' && event.content === 'two ') controller.abort();
      },
    });

    const error = await running.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AgentAbortedError);
    expect((error as Error).name).toBe('AbortError');
    expect(events).toEqual([
      { type: 'token', content: 'one ' },
      { type: 'token', content: 'two ' },
    ]);
    // The provider got a signal that is now aborted (a real one closes its HTTP request with it).
    expect(model.doStreamCalls[0]!.abortSignal?.aborted).toBe(true);
    expect(session.messages).toHaveLength(2);
  });

  it('rejects with an AbortError without calling the model when the signal is already aborted', async () => {
    const model = new MockLanguageModelV3({ doStream: step(...text('x'), finish('stop')) });
    const controller = new AbortController();
    controller.abort();
    const { outcome } = await run({ model }, controller.signal);
    expect((outcome as { error: Error }).error.name).toBe('AbortError');
    expect(model.doStreamCalls).toHaveLength(0);
  });

  it('rejects promptly when aborted while a tool is running, and aborts the tool', async () => {
    const controller = new AbortController();
    let toolSignal: AbortSignal | undefined;
    const slow = tool({
      inputSchema: z.object({}),
      execute: (_input, { abortSignal }) => {
        toolSignal = abortSignal;
        return new Promise<string>(() => undefined);
      },
    });
    const model = new MockLanguageModelV3({ doStream: step(toolCall('c1', 'slow', {}), finish('tool-calls')) });
    const events: AgentEvent[] = [];
    const error = await aiSdkAgent({ model, tools: { slow } })
      .execute(childSession(), {
        model: 'm',
        signal: controller.signal,
        emit: (event) => {
          events.push(event);
          if (event.type === 'tool_start') controller.abort();
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as Error).name).toBe('AbortError');
    expect(events).toEqual([{ type: 'tool_start', tool_call_id: 'c1', tool_name: 'slow', arguments: {} }]);
    expect(toolSignal?.aborted).toBe(true);
  });

  it('passes an error thrown by emit through unchanged', async () => {
    const model = new MockLanguageModelV3({ doStream: step(...text('x'), finish('stop')) });
    const boom = new Error('emit refused');
    const error = await aiSdkAgent({ model })
      .execute(childSession(), {
        model: 'm',
        signal: new AbortController().signal,
        emit: () => {
          throw boom;
        },
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBe(boom);
  });

  it('uses the scheduler tools passed through the request', async () => {
    const model = new MockLanguageModelV3({
      doStream: [step(toolCall('c1', 'add', { a: 4, b: 4 }), finish('tool-calls')), step(...text('8'), finish('stop'))],
    });
    const events: AgentEvent[] = [];
    await aiSdkAgent({ model }).execute(childSession(), {
      model: 'm',
      signal: new AbortController().signal,
      emit: (e) => events.push(e),
      tools: { add },
    });
    expect(events).toContainEqual({ type: 'tool_complete', tool_call_id: 'c1', result: { success: true, result: '{"sum":8}' } });
  });

  it('rejects invalid options with SproutValidationError', () => {
    expect(() => aiSdkAgent({ model: undefined as never })).toThrow(SproutValidationError);
    expect(() => aiSdkAgent({ model: 'x', maxSteps: 0 })).toThrow(/maxSteps/);
  });
});

describe('toModelMessages', () => {
  it('round-trips an appended tool step back into AI SDK messages', async () => {
    const model = new MockLanguageModelV3({
      doStream: [
        step(...text('Let me add.'), toolCall('call-1', 'add', { a: 2, b: 3 }), finish('tool-calls')),
        step(...text('5'), finish('stop')),
      ],
    });
    const { session } = await run({ model, tools: { add } });

    expect(toModelMessages(session.messages)).toEqual([
      { role: 'system', content: 'You are a child agent.' },
      { role: 'user', content: 'What is 2 + 3?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me add.' },
          { type: 'tool-call', toolCallId: 'call-1', toolName: 'add', input: { a: 2, b: 3 } },
        ],
      },
      {
        role: 'tool',
        content: [{ type: 'tool-result', toolCallId: 'call-1', toolName: 'add', output: { type: 'text', value: '{"sum":5}' } }],
      },
      { role: 'assistant', content: '5' },
    ]);
  });
});
