// Issue 21 item 6: no security headers; a body-less cross-site POST could cancel or stop a run (no
// CSRF defence without a token); a malformed cookie gave 500 instead of 401; `HEAD` on a stream
// route printed a stack trace each time.
import { request } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { openSse } from './support/sse-parser.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

const TOKEN = 'test-token-0123456789abcdef';

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A request with any headers (Origin, Sec-Fetch-Site, Host: what a browser or an attacker sends). */
function raw(
  url: string,
  { method = 'GET', headers = {}, body }: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const codeOf = (response: RawResponse): string | undefined => (JSON.parse(response.body) as { code?: string }).code;

describe('security headers', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('every answer carries them (API, problems, 421, SSE written to the socket); the dashboard keeps its own CSP', async () => {
    t = await startTestServer();
    const expectHardened = (headers: Record<string, string | string[] | undefined> | Headers): void => {
      const get = (name: string): unknown => (headers instanceof Headers ? headers.get(name) : headers[name]);
      expect(get('x-content-type-options')).toBe('nosniff');
      expect(get('x-frame-options')).toBe('DENY');
      expect(get('referrer-policy')).toBe('no-referrer');
      expect(get('cross-origin-resource-policy')).toBe('same-origin');
      expect(get('cross-origin-opener-policy')).toBe('same-origin');
      expect(get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
      // Plain HTTP on loopback: no HSTS.
      expect(get('strict-transport-security') ?? null).toBeNull();
    };
    expectHardened((await api(`${t.url}/v1/health`)).headers);
    expectHardened((await api(`${t.url}/v1/sessions/missing`)).headers);
    const misdirected = await raw(`${t.url}/v1/health`, { headers: { host: `evil.example:${t.port}` } });
    expect(misdirected.status).toBe(421);
    expectHardened(misdirected.headers);

    const page = await fetch(`${t.url}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self' 'sha256-/);
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    await page.text();

    const rootId = await createRoot(t.url);
    const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expectHardened(stream.headers);
    stream.close();
  });
});

describe('CSRF: state-changing requests from another site', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('refuses a body-less cross-site POST / DELETE (even without a token) with 403 CSRF_REJECTED; the run keeps running', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const spawned = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Long', prompt: '[hang]' },
    });
    const childId = spawned.body.childSessionId;
    const evil = { origin: 'http://evil.example' };

    const cancel = await raw(`${t.url}/v1/sessions/${childId}/cancel`, { method: 'POST', headers: evil });
    expect(cancel.status).toBe(403);
    expect(codeOf(cancel)).toBe('CSRF_REJECTED');
    expect(cancel.headers['content-type']).toBe('application/problem+json');
    const form = await raw(`${t.url}/v1/sessions/${rootId}/cancel`, {
      method: 'POST',
      headers: { ...evil, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'tree=true',
    });
    expect(form.status).toBe(403);
    const fetchMetadataOnly = await raw(`${t.url}/v1/sessions/${childId}/cancel`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'cross-site' },
    });
    expect(fetchMetadataOnly.status).toBe(403);
    const opaque = await raw(`${t.url}/v1/sessions/${childId}/cancel`, { method: 'POST', headers: { origin: 'null' } });
    expect(opaque.status).toBe(403);
    const textPlain = await raw(`${t.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...evil, 'content-type': 'text/plain' },
      body: '{"title":"planted"}',
    });
    expect(textPlain.status).toBe(403);
    expect((await raw(`${t.url}/api/v1/stop/${childId}`, { method: 'POST', headers: evil })).status).toBe(403);
    expect((await raw(`${t.url}/api/v1/sessions/${childId}`, { method: 'DELETE', headers: evil })).status).toBe(403);
    expect((await t.scheduler.getChild(childId))?.status).toBe('running');

    // This server's own pages, and clients that are not pages (no Origin, no Sec-Fetch-Site), pass.
    const sameSite = await raw(`${t.url}/v1/sessions/${childId}/cancel`, {
      method: 'POST',
      headers: { 'sec-fetch-site': 'same-origin', origin: t.url },
    });
    expect(sameSite.status).toBe(200);
    expect(JSON.parse(sameSite.body)).toEqual({ cancelled: 1 });
    expect((await raw(`${t.url}/v1/sessions/${rootId}/cancel`, { method: 'POST' })).status).toBe(200);
    // application/json from a page elsewhere needs a CORS preflight, which this server refuses: the
    // browser never sends it, so the guard lets such a request through (curl may send anything).
    const json = await raw(`${t.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...evil, 'content-type': 'application/json' },
      body: '{"title":"json"}',
    });
    expect(json.status).toBe(201);
  });

  it('allows the --cors origin', async () => {
    t = await startTestServer({ server: { cors: 'http://localhost:5173' } });
    const rootId = await createRoot(t.url);
    const allowed = await raw(`${t.url}/v1/sessions/${rootId}/cancel`, {
      method: 'POST',
      headers: { origin: 'http://localhost:5173', 'sec-fetch-site': 'same-site' },
    });
    expect(allowed.status).toBe(200);
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:5173');
    const other = await raw(`${t.url}/v1/sessions/${rootId}/cancel`, { method: 'POST', headers: { origin: 'http://localhost:5174' } });
    expect(other.status).toBe(403);
  });
});

describe('a malformed cookie', () => {
  it('is no credential: 401, not 500', async () => {
    const t = await startTestServer({ server: { token: TOKEN } });
    try {
      const bad = await raw(`${t.url}/v1/health`, { headers: { cookie: 'sprout_token=%E0%A4%A' } });
      expect(bad.status).toBe(401);
      expect(codeOf(bad)).toBe('UNAUTHORIZED');
      // A good cookie next to a bad one of another name still works.
      const good = await raw(`${t.url}/v1/health`, { headers: { cookie: `other=%E0%A4%A; sprout_token=${encodeURIComponent(TOKEN)}` } });
      expect(good.status).toBe(200);
    } finally {
      await t.close();
    }
  });
});

describe('HEAD on a stream route', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  for (const cors of [undefined, 'http://localhost:5173'] as const) {
    it(`answers the stream's headers and no body, logs nothing and opens no stream (${cors === undefined ? 'direct' : 'through Hono, with CORS'})`, async () => {
      const logged = vi.spyOn(console, 'error');
      t = await startTestServer({ server: cors === undefined ? {} : { cors } });
      const rootId = await createRoot(t.url);
      for (const path of [`/v1/sessions/${rootId}/events`, `/api/v1/events/${rootId}`, '/v1/runs/stream']) {
        const head = await raw(`${t.url}${path}`, { method: 'HEAD', headers: { accept: 'text/event-stream' } });
        expect(head.status).toBe(200);
        expect(head.headers['content-type']).toMatch(/^text\/event-stream/);
        expect(head.body).toBe('');
      }
      // One more round trip: anything the server logs about those requests is logged by now.
      expect((await api(`${t.url}/v1/health`)).status).toBe(200);
      expect(logged).not.toHaveBeenCalled();
      expect(t.server.openStreams).toBe(0);
      // HEAD of an unknown session is still a 404.
      expect((await raw(`${t.url}/v1/sessions/ghost/events`, { method: 'HEAD', headers: { accept: 'text/event-stream' } })).status).toBe(
        404,
      );
    });
  }
});
