import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { openAICompatibleAgent } from '../../src/agents/ai-sdk/index.js';
import { createSpawnScheduler, type SpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { rootSession } from '../support/harness.js';

// End to end: a child runs on a real OpenAI-compatible HTTP server on 127.0.0.1 (server-sent
// events, written here) through the whole scheduler, and its tokens reach the parent's stream.

type Behaviour = 'stream' | 'hold' | 'fail500' | 'cut';
let behaviour: Behaviour = 'stream';
let server: Server;
let baseURL: string;
const closed: Promise<void>[] = [];

const chunk = (delta: Record<string, unknown>, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

function respond(res: ServerResponse): void {
  if (behaviour === 'fail500') {
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'model crashed' } }));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
  res.write(chunk({ role: 'assistant', content: '' }));
  for (const token of ['Hel', 'lo ', 'from ', 'the ', 'model']) res.write(chunk({ content: token }));
  if (behaviour === 'hold') return; // keeps the stream open until the client goes away
  if (behaviour === 'cut') {
    res.socket?.destroy();
    return;
  }
  res.write(chunk({}, 'stop'));
  res.write(
    `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } })}\n\n`,
  );
  res.end('data: [DONE]\n\n');
}

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    closed.push(new Promise((resolve) => res.once('close', () => resolve())));
    req.on('end', () => respond(res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

let scheduler: SpawnScheduler | undefined;
afterEach(async () => {
  await scheduler?.stop({ mode: 'cancel' });
  closed.length = 0;
});

async function start(): Promise<SpawnScheduler> {
  const store = new MemorySessionStore();
  await store.save(rootSession());
  scheduler = createSpawnScheduler({ store, agent: openAICompatibleAgent({ baseURL, callSettings: { maxRetries: 0 } }) });
  await scheduler.start();
  return scheduler;
}

const completion = (s: SpawnScheduler) =>
  firstValueFrom(s.events('root', { afterSeq: 0 }).pipe(filter((e: SessionEventEnvelope) => e.event.type === 'sub_session_completed')));

describe('a child on a real OpenAI-compatible server, through the scheduler', () => {
  it('streams tokens to the parent and completes with the answer', async () => {
    behaviour = 'stream';
    const s = await start();
    const tokens = firstValueFrom(
      s.events('root', { afterSeq: 0 }).pipe(
        filter((e) => e.event.type === 'sub_session_event' && e.event.event.type === 'token'),
        take(5),
        toArray(),
      ),
    );
    await s.spawnChild('root', { title: 'Greet', prompt: 'say hello' });
    const done = await completion(s);
    expect(
      (await tokens)
        .map((e) => (e.event.type === 'sub_session_event' && e.event.event.type === 'token' ? e.event.event.content : ''))
        .join(''),
    ).toBe('Hello from the model');
    expect(done.event).toMatchObject({ status: 'completed', result: 'Hello from the model' });
  });

  it('a cancel mid-stream closes the HTTP request and the run ends cancelled', async () => {
    behaviour = 'hold';
    const s = await start();
    const firstToken = firstValueFrom(s.events('root', { afterSeq: 0 }).pipe(filter((e) => e.event.type === 'sub_session_event')));
    const { childSessionId } = await s.spawnChild('root', { title: 'Long', prompt: 'talk forever' });
    await firstToken;
    await s.cancel(childSessionId);
    const done = await completion(s);
    expect(done.event).toMatchObject({ status: 'cancelled', reason: 'user' });
    await closed[0]; // the server saw the request go away
  });

  it('an HTTP 500 ends the run in error with the cause', async () => {
    behaviour = 'fail500';
    const s = await start();
    await s.spawnChild('root', { title: 'Broken', prompt: 'x' });
    const done = await completion(s);
    expect(done.event).toMatchObject({ status: 'error' });
    expect(done.event.type === 'sub_session_completed' ? done.event.error : '').toContain('500');
  });

  it('a stream cut mid-way ends the run in error with the cause', async () => {
    behaviour = 'cut';
    const s = await start();
    await s.spawnChild('root', { title: 'Cut', prompt: 'x' });
    const done = await completion(s);
    expect(done.event).toMatchObject({ status: 'error' });
    expect(done.event.type === 'sub_session_completed' ? done.event.error : '').toMatch(/broke off|terminated|closed/);
  });
});
