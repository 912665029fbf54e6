import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { bambooUiAgent } from './support/bamboo-ui-agent.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { startTestServer, type TestServer } from './support/test-server.js';

const UI = 'http://localhost:5173';
const executablePath = chromiumPath();

describe('CORS for a Bamboo UI on another origin (--cors)', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('answers the preflight of a credentialed PATCH with the exact origin, and no other origin', async () => {
    t = await startTestServer({ server: { cors: UI } });
    const preflight = await fetch(`${t.url}/api/v1/sessions/x`, {
      method: 'OPTIONS',
      headers: { origin: UI, 'access-control-request-method': 'PATCH', 'access-control-request-headers': 'content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(UI);
    expect(preflight.headers.get('access-control-allow-credentials')).toBe('true');
    expect(preflight.headers.get('access-control-allow-methods')?.split(',')).toEqual(expect.arrayContaining(['PATCH', 'DELETE']));
    expect(preflight.headers.get('access-control-allow-headers')?.split(',')).toContain('content-type');
    const list = await fetch(`${t.url}/api/v1/sessions`, { headers: { origin: UI, 'content-type': 'application/json' } });
    expect(list.headers.get('access-control-allow-origin')).toBe(UI);
    expect(list.headers.get('access-control-allow-credentials')).toBe('true');
    const other = await fetch(`${t.url}/api/v1/sessions`, { headers: { origin: 'http://localhost:5174' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // An empty JSON-typed POST from the UI origin passes the CSRF guard (404: nothing runs).
    const stop = await fetch(`${t.url}/api/v1/stop/ghost`, { method: 'POST', headers: { origin: UI, 'content-type': 'application/json' } });
    expect(stop.status).toBe(404);
    expect(stop.headers.get('access-control-allow-origin')).toBe(UI);
  });
});

describe.skipIf(executablePath === undefined)('a Bamboo UI page in real Chromium on another origin', () => {
  let t: TestServer | undefined;
  let page: Server | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
    await new Promise<void>((resolve) => (page ? page.close(() => resolve()) : resolve()));
    page = undefined;
  });

  it('runs the legacy loop with credentials: create, chat, execute, stream to [DONE], rename, history, delete; EventSource too', async () => {
    const ui = createServer((_, response) =>
      response.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>ui</title>'),
    );
    page = ui;
    await new Promise<void>((resolve) => ui.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(ui.address() as AddressInfo).port}`;
    t = await startTestServer({ agent: bambooUiAgent(), server: { cors: origin } });
    const browser = await launchChromium(executablePath as string);
    try {
      const tab = await browser.context.newPage();
      await tab.goto(origin);
      const result = await tab.evaluate(async (base) => {
        const call = async (path: string, method = 'GET', body?: unknown) => {
          const response = await fetch(`${base}${path}`, {
            method,
            credentials: 'include',
            headers: { 'Content-Type': 'application/json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          return { status: response.status, body: (await response.json()) as Record<string, unknown> };
        };
        const created = await call('/api/v1/sessions', 'POST', { title: 'New Session' });
        const id = (created.body.session as { id: string }).id;
        const chat = await call('/api/v1/chat', 'POST', { message: 'hello', session_id: id, model: 'default' });
        const execute = await call(`/api/v1/execute/${id}`, 'POST', { model: 'default' });
        const response = await fetch(`${base}/api/v1/events/${id}`, {
          credentials: 'include',
          headers: { 'Content-Type': 'application/json' },
        });
        const reader = (response.body as ReadableStream<Uint8Array>).getReader();
        const decoder = new TextDecoder();
        const types: string[] = [];
        let buffer = '';
        let done = false;
        while (!done) {
          const chunk = await reader.read();
          if (chunk.done) break;
          buffer += decoder.decode(chunk.value, { stream: true });
          const lines = buffer.split('\n');
          buffer = lines.pop() ?? '';
          for (const line of lines) {
            if (!line.startsWith('data: ')) continue;
            if (line === 'data: [DONE]') done = true;
            else types.push((JSON.parse(line.slice(6)) as { type: string }).type);
          }
        }
        const renamed = await call(`/api/v1/sessions/${id}`, 'PATCH', { title: 'Renamed', pinned: true });
        const history = await call(`/api/v1/history/${id}`);
        const viaEventSource = await new Promise<string[]>((resolve) => {
          const seen: string[] = [];
          const source = new EventSource(`${base}/api/v1/events/${id}`, { withCredentials: true });
          source.onmessage = (event: { data: string }) => {
            if (event.data === '[DONE]') {
              source.close();
              resolve(seen);
            } else seen.push((JSON.parse(event.data) as { type: string }).type);
          };
        });
        const deleted = await call(`/api/v1/sessions/${id}`, 'DELETE');
        return {
          created: created.status,
          chat: chat.status,
          execute: execute.body.status,
          types,
          done,
          renamed: renamed.body.session,
          roles: (history.body.messages as { role: string }[]).map((message) => message.role),
          viaEventSource,
          deleted: deleted.status,
        };
      }, t.url);
      expect(result).toMatchObject({
        created: 201,
        chat: 201,
        done: true,
        renamed: { title: 'Renamed', pinned: true },
        roles: ['user', 'assistant', 'tool', 'tool', 'assistant'],
        viaEventSource: ['complete'],
        deleted: 200,
      });
      expect(['started', 'already_running']).toContain(result.execute);
      expect(result.types.at(-1)).toBe('complete');
    } finally {
      await browser.close();
    }
  });
});
