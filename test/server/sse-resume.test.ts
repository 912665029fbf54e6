import { afterEach, describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { openSse, parseSse, type SseFrame } from './support/sse-parser.js';
import { api, createRoot, startTestServer, tempDir, type TestServer } from './support/test-server.js';

const seqs = (frames: readonly SseFrame[]): number[] => frames.map((frame) => Number(frame.id));
const completions = (frames: readonly SseFrame[]): number => frames.filter((frame) => frame.event === 'sub_session_completed').length;

/** Every seq from 1 to the last exactly once, in order. */
function expectContiguous(all: number[]): void {
  expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
}

describe('SSE on /v1/sessions/{id}/events', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('frames: retry first, then id/event/data per event with the seq as id', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url);
    const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
    cleanups.push(() => stream.close());
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
    const parsed = await stream.until((parse) => completions(parse.frames) === 1);
    expect(stream.text().startsWith('retry: 3000\n\n')).toBe(true);
    expect(parsed.retries).toEqual([3000]);
    expectContiguous(seqs(parsed.frames));
    for (const frame of parsed.frames) expect((JSON.parse(frame.data) as { type: string }).type).toBe(frame.event);
    expect(parsed.frames[0]?.event).toBe('sub_session_started');
  });

  it('resumes after a disconnect from Last-Event-ID or ?after= with no gap and no duplicate', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url);
    const first = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'b', prompt: 'p' } });
    const before = await first.until((parse) => parse.frames.length >= 5);
    first.close();
    const seen = seqs(before.frames);
    const lastId = String(seen.at(-1));
    const second = await openSse(`${t.url}/v1/sessions/${rootId}/events`, { 'last-event-id': lastId });
    cleanups.push(() => second.close());
    const after = await second.until((parse) => completions([...before.frames, ...parse.frames]) === 2);
    expectContiguous([...seen, ...seqs(after.frames)]);
    const viaQuery = await openSse(`${t.url}/v1/sessions/${rootId}/events?after=${lastId}`);
    cleanups.push(() => viaQuery.close());
    const again = await viaQuery.until((parse) => completions(parse.frames) === 2 - completions(before.frames));
    expect(seqs(again.frames)[0]).toBe(Number(lastId) + 1);
  });

  it('resumes across a server restart on the same SQLite file with no gap and no duplicate', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const path = tmp.file('serve.db');
    let t: TestServer = await startTestServer({ store: new SqliteSessionStore({ path }) });
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url);
    const first = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
    const before = await first.until((parse) => completions(parse.frames) === 1);
    // Restart: drain, close the file, open it again on a new server (the old stream ends cleanly).
    await t.close('drain');
    const ended = await first.ended;
    const seen = seqs(ended.frames);
    expect(seen.length).toBeGreaterThanOrEqual(before.frames.length);
    t = await startTestServer({ store: new SqliteSessionStore({ path }) });
    cleanups.push(() => t.close());
    const resumed = await openSse(`${t.url}/v1/sessions/${rootId}/events`, { 'last-event-id': String(seen.at(-1)) });
    cleanups.push(() => resumed.close());
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'b', prompt: 'p' } });
    const after = await resumed.until((parse) => completions(parse.frames) === 1);
    expectContiguous([...seen, ...seqs(after.frames)]);
    expect(after.frames[0]?.event).toBe('sub_session_started');
  });

  it('sends stream_truncated first when retention dropped the asked range', async () => {
    const t = await startTestServer({ scheduler: { eventRetention: 5 } });
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
    await api(`${t.url}/v1/sessions/${rootId}/wait`);
    const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events`, { 'last-event-id': '1' });
    cleanups.push(() => stream.close());
    const parsed = await stream.until((parse) => completions(parse.frames) === 1);
    const [truncated, next] = parsed.frames;
    expect(truncated?.event).toBe('stream_truncated');
    const { first_retained_seq } = JSON.parse(truncated!.data) as { first_retained_seq: number };
    expect(Number(truncated?.id)).toBe(first_retained_seq - 1);
    expect(Number(next?.id)).toBe(first_retained_seq);
    expectContiguous(seqs(parsed.frames.slice(1)).map((seq) => seq - first_retained_seq + 1));
  });

  it('sends : ping comments while idle', async () => {
    const t = await startTestServer({ server: { pingIntervalMs: 20 } });
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url);
    const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events`);
    cleanups.push(() => stream.close());
    const parsed = await stream.until((parse) => parse.comments.length >= 2);
    expect(parsed.comments.every((comment) => comment === 'ping')).toBe(true);
  });
});

describe('SSE through the web-standard fetch handler (no node:http)', () => {
  it('streams a replay as a ReadableStream body with the same framing', async () => {
    const t = await startTestServer();
    try {
      const rootId = await createRoot(t.url);
      await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
      await api(`${t.url}/v1/sessions/${rootId}/wait`);
      const response = await t.server.fetch(
        new Request(`http://127.0.0.1:${t.port}/v1/sessions/${rootId}/events`, {
          headers: { accept: 'text/event-stream', 'last-event-id': '2' },
        }),
      );
      expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const reader = response.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('event: sub_session_completed')) {
        const chunk = (await reader.read()) as { done: boolean; value?: Uint8Array };
        if (chunk.done || chunk.value === undefined) break;
        text += decoder.decode(chunk.value, { stream: true });
      }
      await reader.cancel();
      const frames = parseSse(text).frames;
      expect(text.startsWith('retry: 3000\n\n')).toBe(true);
      expect(Number(frames[0]?.id)).toBe(3);
      expectContiguous(frames.map((frame) => Number(frame.id) - 2));
    } finally {
      await t.close();
    }
  });
});
