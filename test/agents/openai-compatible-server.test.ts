import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { agentEventSchema } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { sessionSchema } from '../../machines/session.schema.js';
import { AgentAbortedError, AgentProviderError, openAICompatibleAgent } from '../../src/agents/ai-sdk/index.js';
import type { OpenAICompatibleAgentOptions } from '../../src/agents/ai-sdk/index.js';

// A real HTTP server on 127.0.0.1 speaking the OpenAI chat-completions streaming protocol
// (server-sent events). Each test installs its own `respond`; every request is recorded.

interface SeenRequest {
  headers: IncomingMessage['headers'];
  body: { model?: string; stream?: boolean; messages?: Array<Record<string, unknown>>; tools?: unknown[] };
  /** Resolves when the server saw the request's connection close. */
  closed: Promise<void>;
}
type Respond = (res: ServerResponse, request: SeenRequest, index: number) => void;

let server: Server;
let baseURL: string;
let respond: Respond;
let seen: SeenRequest[];
/** Resolves each time a request arrives (index = request number). */
let arrivals: Array<(request: SeenRequest) => void>;

const chunk = (delta: Record<string, unknown>, finishReason: string | null = null) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1767225600, model: 'test-model', choices: [{ index: 0, delta, finish_reason: finishReason }] })}\n\n`;
const usageChunk = (prompt: number, completion: number) =>
  `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1767225600, model: 'test-model', choices: [], usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion } })}\n\n`;
const DONE = 'data: [DONE]\n\n';

function startSse(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  res.flushHeaders();
}

function streamText(res: ServerResponse, tokens: string[], usage: [number, number] = [11, tokens.length]): void {
  startSse(res);
  res.write(chunk({ role: 'assistant', content: '' }));
  for (const token of tokens) res.write(chunk({ content: token }));
  res.write(chunk({}, 'stop'));
  res.write(usageChunk(...usage));
  res.end(DONE);
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (data: string) => (raw += data));
    req.on('end', () => {
      const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
      const request: SeenRequest = { headers: req.headers, body: JSON.parse(raw) as SeenRequest['body'], closed };
      const index = seen.push(request) - 1;
      arrivals[index]?.(request);
      respond(res, request, index);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  seen = [];
  arrivals = [];
  respond = (res) => res.end();
});

/** A promise for the `index`-th request to arrive. */
function arrival(index: number): Promise<SeenRequest> {
  return new Promise((resolve) => {
    const already = seen[index];
    if (already) resolve(already);
    else arrivals[index] = resolve;
  });
}

function childSession(): Session {
  return sessionSchema.parse({
    id: 'child-1',
    title: 'child',
    kind: 'child',
    parent_session_id: 'root-1',
    root_session_id: 'root-1',
    spawn_depth: 1,
    model: 'test-model',
    messages: [{ id: 'm1', role: 'user', content: 'Say hello.', created_at: '2026-01-01T00:00:00.000Z' }],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
  });
}

function execute(
  options: Partial<OpenAICompatibleAgentOptions> = {},
  hooks: { signal?: AbortSignal; onEvent?: (event: AgentEvent) => void } = {},
) {
  const session = childSession();
  const events: AgentEvent[] = [];
  const agent = openAICompatibleAgent({ baseURL, apiKey: 'test-key', callSettings: { maxRetries: 0 }, ...options });
  const done = agent.execute(session, {
    model: 'test-model',
    signal: hooks.signal ?? new AbortController().signal,
    emit: (event) => {
      events.push(agentEventSchema.parse(event));
      hooks.onEvent?.(event);
    },
  });
  const settled = done.then(
    () => ({ ok: true as const }),
    (error: unknown) => ({ ok: false as const, error: error as Error }),
  );
  return { session, events, settled };
}

describe('openAICompatibleAgent against a local OpenAI-compatible server', () => {
  it('streams the tokens through emit in order, then complete with the usage', async () => {
    respond = (res) => streamText(res, ['Hel', 'lo', ', ', 'world']);
    const { session, events, settled } = execute();

    expect(await settled).toEqual({ ok: true });
    expect(events).toEqual([
      { type: 'token', content: 'Hel' },
      { type: 'token', content: 'lo' },
      { type: 'token', content: ', ' },
      { type: 'token', content: 'world' },
      { type: 'complete', usage: { prompt_tokens: 11, completion_tokens: 4, total_tokens: 15 } },
    ]);
    expect(session.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'Hello, world' });
    const [request] = seen;
    expect(request!.headers.authorization).toBe('Bearer test-key');
    expect(request!.body).toMatchObject({ model: 'test-model', stream: true, messages: [{ role: 'user', content: 'Say hello.' }] });
  });

  it('runs a tool call over the wire and sends its result back with the tool_call_id', async () => {
    respond = (res, _request, index) => {
      if (index === 1) return streamText(res, ['The time is noon.']);
      startSse(res);
      res.write(
        chunk({
          role: 'assistant',
          tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'clock', arguments: '' } }],
        }),
      );
      res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"zone":' } }] }));
      res.write(chunk({ tool_calls: [{ index: 0, function: { arguments: '"UTC"}' } }] }));
      res.write(chunk({}, 'tool_calls'));
      res.write(usageChunk(20, 8));
      res.end(DONE);
    };
    const { jsonSchema, tool } = await import('ai');
    const clock = tool<{ zone: string }, string>({
      inputSchema: jsonSchema({ type: 'object', properties: { zone: { type: 'string' } }, required: ['zone'] }),
      execute: ({ zone }) => `12:00 ${zone}`,
    });
    const { session, events, settled } = execute({ tools: { clock } });

    expect(await settled).toEqual({ ok: true });
    expect(events).toEqual([
      { type: 'tool_start', tool_call_id: 'call_1', tool_name: 'clock', arguments: { zone: 'UTC' } },
      { type: 'tool_complete', tool_call_id: 'call_1', result: { success: true, result: '12:00 UTC' } },
      { type: 'token', content: 'The time is noon.' },
      { type: 'complete', usage: { prompt_tokens: 31, completion_tokens: 9, total_tokens: 40 } },
    ]);
    expect(seen[1]!.body.messages!.slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'clock', arguments: '{"zone":"UTC"}' } }],
      },
      { role: 'tool', tool_call_id: 'call_1', content: '12:00 UTC' },
    ]);
    expect(session.messages.slice(1).map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant']);
  });

  it('on abort mid-stream closes the HTTP request and rejects with an AbortError', async () => {
    respond = (res) => {
      startSse(res);
      res.write(chunk({ role: 'assistant', content: '' }));
      res.write(chunk({ content: 'one ' }));
      res.write(chunk({ content: 'two ' }));
      // …then the server keeps the stream open, as a slow model would.
    };
    const controller = new AbortController();
    const { events, settled } = execute(
      {},
      { signal: controller.signal, onEvent: (e) => e.type === 'token' && e.content === 'two ' && controller.abort() },
    );

    const outcome = await settled;
    expect(outcome.ok).toBe(false);
    expect((outcome as { error: Error }).error).toBeInstanceOf(AgentAbortedError);
    expect((outcome as { error: Error }).error.name).toBe('AbortError');
    expect(events).toEqual([
      { type: 'token', content: 'one ' },
      { type: 'token', content: 'two ' },
    ]);
    await (
      await arrival(0)
    ).closed; // the server saw the request's connection close
  });

  it('rejects with a message containing the status when the server answers 500', async () => {
    respond = (res) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'model crashed', type: 'server_error' } }));
    };
    const { session, events, settled } = execute();

    const outcome = await settled;
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(AgentProviderError);
    expect(error.message).toContain('500');
    expect(error.message).toContain('model crashed');
    expect(error).toMatchObject({ statusCode: 500 });
    expect(events).toEqual([]);
    expect(session.messages).toHaveLength(1);
  });

  it('rejects with a clear message when the stream is cut mid-way', async () => {
    respond = (res) => {
      startSse(res);
      res.write(chunk({ role: 'assistant', content: '' }));
      res.write(chunk({ content: 'par' }));
      res.write(chunk({ content: 'tial' }), () => res.socket?.destroy());
    };
    const { events, settled } = execute();

    const outcome = await settled;
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(AgentProviderError);
    expect(error.message).toMatch(/^model provider failed: /);
    expect(error.message).toMatch(/terminated|closed|socket|ended/i);
    expect(events.filter((e) => e.type === 'complete')).toEqual([]);
  });

  it('rejects with a clear message when a chunk is not valid JSON', async () => {
    respond = (res) => {
      startSse(res);
      res.write(chunk({ role: 'assistant', content: 'ok' }));
      res.end('data: {"choices": [oops\n\n');
    };
    const { settled } = execute();

    const outcome = await settled;
    expect(outcome.ok).toBe(false);
    const error = (outcome as { error: Error }).error;
    expect(error).toBeInstanceOf(AgentProviderError);
    expect(error.message).toMatch(/JSON/);
  });
});
