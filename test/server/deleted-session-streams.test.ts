import { NEVER, merge } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SpawnScheduler } from '../../src/api/spawn-scheduler.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer } from '../../src/server/listen-sprout-server.js';
import { LotusSocket } from './support/lotus-socket.js';
import { lotusSubscribe } from './support/lotus-sse.js';
import { openSse } from './support/sse-parser.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

// Issue 21 item 3: a deleted session's streams ended without a word (or never, in distributed
// mode, whose streams follow the shared log). Now each ends with a final frame, then closes.

/** Spawns a child that hangs until cancelled and waits until it runs. */
async function hangingChild(t: TestServer, url: string, rootId: string): Promise<string> {
  const spawned = await api<{ childSessionId: string }>(`${url}/v1/sessions/${rootId}/children`, {
    body: { title: 'hangs', prompt: '[hang]' },
  });
  expect(spawned.status).toBe(202);
  const childId = spawned.body.childSessionId;
  for (let i = 0; i < 200 && (await t.scheduler.getChild(childId))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 10));
  return childId;
}

/** Waits until the server holds `count` open SSE streams and their sources had a moment to go live. */
async function liveStreams(url: string, count: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const health = await api<{ streams: number }>(`${url}/v1/health`);
    if (health.body.streams >= count) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise((r) => setTimeout(r, 50));
}

/** The scheduler with streams that never complete by themselves, as the distributed front door's. */
function neverEndingStreams(scheduler: SpawnScheduler): SpawnScheduler {
  return new Proxy(scheduler, {
    get(target, key) {
      if (key === 'events') return (id: string, options?: { afterSeq?: number }) => merge(target.events(id, options), NEVER);
      const value = Reflect.get(target, key) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

type Mode = 'embedded' | 'never';
const MODES: readonly Mode[] = ['embedded', 'never'];

describe('a deleted session’s streams end with a final frame', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  /** A test server, or in `never` mode a second server on its scheduler whose streams never complete. */
  async function serve(mode: Mode): Promise<{ t: TestServer; url: string }> {
    const t = await startTestServer();
    cleanups.push(() => t.close());
    if (mode === 'embedded') return { t, url: t.url };
    const server = createSproutServer({ scheduler: neverEndingStreams(t.scheduler), store: t.store });
    const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 0 });
    cleanups.push(() => listening.close());
    return { t, url: listening.url };
  }

  for (const mode of MODES) {
    it(`DELETE /v1/sessions/{id} deletes the tree; SSE ends with event: session_deleted (${mode})`, async () => {
      const { t, url } = await serve(mode);
      const rootId = await createRoot(url);
      const childId = await hangingChild(t, url, rootId);
      const rootStream = await openSse(`${url}/v1/sessions/${rootId}/events`);
      const childStream = await openSse(`${url}/v1/sessions/${childId}/events`);
      cleanups.push(
        () => rootStream.close(),
        () => childStream.close(),
      );
      await childStream.until((parse) => parse.frames.length > 0);

      const deleted = await api(`${url}/v1/sessions/${rootId}`, { method: 'DELETE' });
      expect(deleted).toMatchObject({ status: 200, body: { deleted: 2 } });
      for (const [stream, id] of [
        [rootStream, rootId],
        [childStream, childId],
      ] as const) {
        const { frames } = await stream.ended;
        const last = frames.at(-1);
        expect(last?.event).toBe('session_deleted');
        expect(last?.id).toBeUndefined();
        expect(JSON.parse(last?.data ?? '')).toEqual({ type: 'session_deleted', session_id: id });
      }
      expect((await api(`${url}/v1/sessions/${rootId}`)).status).toBe(404);
      expect((await api(`${url}/v1/sessions/${childId}`)).status).toBe(404);
      expect((await api(`${url}/v1/sessions/${rootId}`, { method: 'DELETE' })).status).toBe(404);
    });

    it(`Bamboo's event stream ends with a cancelled terminal and [DONE]; /v2/stream with reason deleted (${mode})`, async () => {
      const { url } = await serve(mode);
      // A root that never ran: both streams stay live (a client subscribes before it executes).
      const rootId = await createRoot(url);
      const socket = await LotusSocket.open(url);
      cleanups.push(() => socket.close());
      socket.send({ type: 'hello' });
      socket.send({ type: 'subscribe', ch: `agent.${rootId}` });
      const bamboo = await lotusSubscribe(`${url}/api/v1/events/${rootId}`);
      cleanups.push(() => bamboo.close());
      await socket.roundTrip();
      await liveStreams(url, 1);

      expect((await api(`${url}/api/v1/sessions/${rootId}`, { method: 'DELETE' })).status).toBe(200);
      expect(await bamboo.ended).toEqual({ done: true, serverClosed: true });
      expect(bamboo.events.map((event) => event.type)).toEqual(['error']);
      expect(bamboo.events[0]?.message).toMatch(/deleted/);
      const terminal = await socket.terminal(rootId);
      expect(terminal.control).toEqual({ type: 'terminal', reason: 'deleted' });
      expect(socket.on(`agent.${rootId}`)).toHaveLength(1);
    });
  }
});
