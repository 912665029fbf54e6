import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli, tempDb } from './cli-process.js';

// `sprout demo --provider openai-compatible`: the children run on a real OpenAI-compatible HTTP
// server (server-sent events) on 127.0.0.1, written here.

let server: Server;
let baseURL: string;
const seen: { model?: string | undefined; authorization?: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (raw += chunk));
    req.on('end', () => {
      const body = JSON.parse(raw) as { model?: string };
      seen.push({ model: body.model, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null = null) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
      res.write(chunk({ role: 'assistant', content: '' }));
      for (const token of ['Real ', 'model ', 'answer']) res.write(chunk({ content: token }));
      res.write(chunk({}, 'stop'));
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseURL = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('sprout demo --provider openai-compatible', () => {
  it('runs every child on the model and streams its tokens to the parent', async () => {
    process.env.SPROUT_API_KEY = 'sk-test';
    const cli = startCli([
      'demo',
      '--json',
      '--children',
      '2',
      '--db',
      tempDb(),
      '--seed',
      '7',
      '--provider',
      'openai-compatible',
      '--base-url',
      baseURL,
      '--model',
      'tiny-model',
    ]);
    delete process.env.SPROUT_API_KEY;
    expect(await cli.exited).toBe(0);
    const events = cli
      .stdout()
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { event: { type: string; status?: string; result?: string; event?: { type: string; content?: string } } },
      );
    const completions = events.filter((e) => e.event.type === 'sub_session_completed');
    expect(completions.map((e) => [e.event.status, e.event.result])).toEqual([
      ['completed', 'Real model answer'],
      ['completed', 'Real model answer'],
    ]);
    expect(events.filter((e) => e.event.type === 'sub_session_event' && e.event.event?.type === 'token')).toHaveLength(6);
    expect(seen.map((r) => r.model)).toEqual(['tiny-model', 'tiny-model']);
    expect(seen[0]?.authorization).toBe('Bearer sk-test');
  });

  it('refuses an incomplete provider setup with exit 2 and one line', async () => {
    const cli = startCli(['demo', '--provider', 'openai-compatible', '--db', tempDb()]);
    expect(await cli.exited).toBe(2);
    expect(cli.stderr().trim()).toBe('sprout demo: --provider needs --base-url URL and --model NAME');
    const bad = startCli(['demo', '--provider', 'acme', '--base-url', 'http://x', '--model', 'm', '--db', tempDb()]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain('unknown --provider "acme"');
  });
});
