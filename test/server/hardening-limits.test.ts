// Issue 21 item 6: 2,000 wrong tokens in 7 s were all answered (no throttling); no request
// timeouts; no cap on open streams per client.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Session } from '../../machines/session.schema.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { openSse, type SseReader } from './support/sse-parser.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

const TOKEN = 'test-token-0123456789abcdef';
type Problem = { code: string };

/** Resolves once `condition` holds, checked after each turn of the event loop. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('throttled auth failures', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('after 10 distinct wrong tokens (a stale cookie counts once, no credential never) a client gets 429 with Retry-After, even with the right token, until the window ends', async () => {
    let now = 1_000_000;
    t = await startTestServer({ server: { token: TOKEN, now: () => now } });
    // Only distinct wrong values count: a dashboard polling with a stale cookie, or a client with
    // no credential at all, is never locked out.
    for (let i = 0; i < 30; i++) {
      expect((await api(`${t.url}/v1/sessions`, { headers: { cookie: 'sprout_token=an-old-token-from-yesterday' } })).status).toBe(401);
      expect((await api(`${t.url}/v1/sessions`)).status).toBe(401);
    }
    // The stale cookie was one failure: nine more distinct ones reach the limit.
    for (let i = 1; i < 10; i++) {
      const wrong = await api<Problem>(`${t.url}/v1/health`, { headers: { authorization: `Bearer wrong-token-${i}-xxxxxxxxxx` } });
      expect(wrong.status).toBe(401);
    }
    const refused = await api<Problem>(`${t.url}/v1/health`, { headers: { authorization: 'Bearer wrong-token-10-xxxxxxxxxx' } });
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('TOO_MANY_AUTH_FAILURES');
    expect(refused.headers.get('retry-after')).toBe('60');
    // A guess is not checked while refused: the right token is refused as well.
    const right = { authorization: `Bearer ${TOKEN}` };
    expect((await api(`${t.url}/v1/health`, { headers: right })).status).toBe(429);
    now += 45_000;
    expect((await api(`${t.url}/v1/health`, { headers: right })).headers.get('retry-after')).toBe('15');
    now += 15_000;
    expect((await api(`${t.url}/v1/health`, { headers: right })).status).toBe(200);
  });

  it('does not trust X-Forwarded-For unless told to: a client cannot dodge the limit by naming another address', async () => {
    t = await startTestServer({ server: { token: TOKEN, maxAuthFailures: 2 } });
    for (const [i, forwarded] of ['1.1.1.1', '2.2.2.2'].entries()) {
      const headers = { authorization: `Bearer wrong-${i}-xxxxxxxxxxxxxxxx`, 'x-forwarded-for': forwarded };
      expect((await api(`${t.url}/v1/health`, { headers })).status).toBe(401);
    }
    const third = await api(`${t.url}/v1/health`, { headers: { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '3.3.3.3' } });
    expect(third.status).toBe(429);
  });
});

describe('caps on open streams', () => {
  let t: TestServer | undefined;
  const readers: SseReader[] = [];
  afterEach(async () => {
    for (const reader of readers.splice(0)) reader.close();
    await t?.close();
    t = undefined;
  });
  const open = async (url: string, headers: Record<string, string> = {}): Promise<SseReader> => {
    const reader = await openSse(url, headers);
    readers.push(reader);
    return reader;
  };

  it('429 TOO_MANY_STREAMS beyond the per-client cap, 503 SERVER_BUSY beyond the total, both with Retry-After; a closed stream frees its slot', async () => {
    // trustProxy: clients are told apart by X-Forwarded-For, as behind a reverse proxy.
    t = await startTestServer({ server: { maxStreamsPerClient: 2, maxStreams: 3, trustProxy: true } });
    const rootId = await createRoot(t.url);
    const events = `${t.url}/v1/sessions/${rootId}/events`;
    const a = { 'x-forwarded-for': '10.0.0.1' };
    const b = { 'x-forwarded-for': '10.0.0.2' };
    const first = await open(events, a);
    expect(first.status).toBe(200);
    expect((await open(`${t.url}/api/v1/events/${rootId}`, a)).status).toBe(200);
    const third = await open(`${t.url}/v1/runs/stream`, a);
    expect(third.status).toBe(429);
    expect(third.headers.get('retry-after')).toBe('5');
    expect((await third.ended).rest).toContain('TOO_MANY_STREAMS');
    expect((await open(events, b)).status).toBe(200);
    const busy = await open(events, b);
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('5');
    expect((await busy.ended).rest).toContain('SERVER_BUSY');
    // Plain requests are not streams: never capped.
    expect((await api(`${t.url}/v1/sessions/${rootId}/events`, { headers: a })).status).toBe(200);

    first.close();
    await until(() => t!.server.openStreams === 2);
    expect((await open(events, a)).status).toBe(200);
  });

  it('the /wait long poll counts as a stream; without trustProxy, X-Forwarded-For does not make a new client', async () => {
    t = await startTestServer({ server: { maxStreamsPerClient: 1 } });
    const rootId = await createRoot(t.url);
    const child = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Long', prompt: '[hang]' },
    });
    const waits = vi.spyOn(t.scheduler, 'waitForChildren');
    const waiting = api<{ children: { status: string }[] }>(`${t.url}/v1/sessions/${rootId}/wait`);
    // Once the route waits, the long poll holds this client's one slot until the run ends.
    await until(() => waits.mock.calls.length === 1);
    const refused = await open(`${t.url}/v1/sessions/${rootId}/events`, { 'x-forwarded-for': '192.0.2.7' });
    expect(refused.status).toBe(429);
    expect((await refused.ended).rest).toContain('TOO_MANY_STREAMS');
    await api(`${t.url}/v1/sessions/${child.body.childSessionId}/cancel`, { method: 'POST' });
    expect((await waiting).body.children).toEqual([expect.objectContaining({ status: 'cancelled' })]);
  });
});

/** A store whose `load('slow')` does not answer until released. */
class SlowStore extends MemorySessionStore {
  #release: (() => void) | undefined;
  readonly #released = new Promise<void>((resolve) => (this.#release = resolve));
  override async load(id: string): Promise<Session | undefined> {
    if (id === 'slow') await this.#released;
    return super.load(id);
  }
  release(): void {
    this.#release?.();
  }
}

describe('request timeout', () => {
  it('answers a request still busy after requestTimeoutMs with 503 REQUEST_TIMEOUT; streams and the /wait long poll are exempt', async () => {
    const store = new SlowStore();
    const t = await startTestServer({ store, server: { requestTimeoutMs: 100, pingIntervalMs: 20 } });
    try {
      const rootId = await createRoot(t.url);
      const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
      const child = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
        body: { title: 'Long', prompt: '[hang]' },
      });
      const waiting = api<{ children: { status: string }[] }>(`${t.url}/v1/sessions/${rootId}/wait`);

      const slow = await api<Problem>(`${t.url}/v1/sessions/slow`);
      expect(slow.status).toBe(503);
      expect(slow.body.code).toBe('REQUEST_TIMEOUT');
      expect(slow.headers.get('retry-after')).toBe('1');
      // That took the timeout's 100 ms, and the stream, open since before, is still live:
      // ten pings are 200 ms.
      await stream.until((parse) => parse.comments.filter((comment) => comment === 'ping').length >= 10);
      await api(`${t.url}/v1/sessions/${child.body.childSessionId}/cancel`, { method: 'POST' });
      const waited = await waiting;
      expect(waited.status).toBe(200);
      expect(waited.body.children).toEqual([expect.objectContaining({ status: 'cancelled' })]);
      stream.close();
    } finally {
      store.release();
      await t.close();
    }
  });
});
