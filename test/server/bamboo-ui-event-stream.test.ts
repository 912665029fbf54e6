import { afterEach, describe, expect, it } from 'vitest';
import { parseBambooFrames } from './support/bamboo-schemas.js';
import { bambooUiAgent } from './support/bamboo-ui-agent.js';
import { lotusSubscribe, type LotusStream } from './support/lotus-sse.js';
import { openSse, type SseReader } from './support/sse-parser.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const post = <T = Record<string, unknown>>(url: string, body?: unknown) =>
  api<T>(url, { method: 'POST', headers: JSON_HEADERS, ...(body === undefined ? {} : { body }) });

describe('GET /api/v1/events/{id}: Bamboo terminal discipline', () => {
  let t: TestServer | undefined;
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await t?.close();
    t = undefined;
  });
  const lotus = async (id: string): Promise<LotusStream> => {
    const stream = await lotusSubscribe(`${t?.url}/api/v1/events/${id}`);
    closers.push(() => stream.close());
    return stream;
  };
  const sse = async (id: string, headers: Record<string, string> = {}, query = ''): Promise<SseReader> => {
    const stream = await openSse(`${t?.url}/api/v1/events/${id}${query}`, headers);
    closers.push(() => stream.close());
    return stream;
  };
  const newSession = async (): Promise<string> =>
    (await post<{ session: { id: string } }>(`${t?.url}/api/v1/sessions`, { title: 'New Session' })).body.session.id;

  it('holds [DONE] after the root completes while its sub-session runs, and sends it once the child ends', async () => {
    t = await startTestServer({ agent: bambooUiAgent(), server: { pingIntervalMs: 20 } });
    const id = await newSession();
    const stream = await lotus(id);
    await post(`${t.url}/api/v1/chat`, { message: 'team up [spawn]', session_id: id, model: 'default' });
    await stream.until((s) => s.events.some((event) => event.type === 'complete'));
    const started = stream.events.find((event) => event.type === 'sub_session_started');
    const childId = started?.child_session_id as string;
    expect(childId).toBeTruthy();
    // The child hangs until stopped, so nothing may end the stream yet.
    expect(stream.done).toBe(false);
    const list = await api<{ sessions: { id: string; is_running: boolean; running_child_count: number; subagent_count: number }[] }>(
      `${t.url}/api/v1/sessions`,
    );
    expect(list.body.sessions.find((session) => session.id === id)).toMatchObject({
      is_running: false,
      running_child_count: 1,
      subagent_count: 1,
    });
    expect(list.body.sessions.find((session) => session.id === childId)).toMatchObject({ kind: 'child', is_running: true });
    // A late subscriber: the critical sub-session event is replayed, then the terminal; it is held too.
    const late = await lotus(id);
    await late.until((s) => s.events.some((event) => event.type === 'complete'));
    // (The running child's heartbeats go on live after the terminal.)
    expect(late.events.map((event) => event.type).filter((type) => type !== 'sub_session_heartbeat')).toEqual([
      'sub_session_started',
      'complete',
    ]);
    expect(late.done).toBe(false);

    expect((await post(`${t.url}/api/v1/stop/${childId}`)).status).toBe(200);
    expect(await stream.ended).toEqual({ done: true, serverClosed: true });
    expect(await late.ended).toEqual({ done: true, serverClosed: true });
    const types = stream.events.map((event) => event.type);
    expect(types.indexOf('complete')).toBeLessThan(types.indexOf('sub_session_completed'));
    expect(stream.events.find((event) => event.type === 'sub_session_completed')).toMatchObject({ status: 'cancelled' });
  });

  it('streams a running child session on its own (legacy opens a running child and subscribes) to [DONE]', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const id = await newSession();
    const parent = await lotus(id);
    await post(`${t.url}/api/v1/chat`, { message: 'team up [spawn]', session_id: id, model: 'default' });
    await parent.until((s) => s.events.some((event) => event.type === 'sub_session_started'));
    const childId = parent.events.find((event) => event.type === 'sub_session_started')?.child_session_id as string;
    const child = await api<{ session: { is_running: boolean; kind: string } }>(`${t.url}/api/v1/sessions/${childId}`);
    expect(child.body.session).toMatchObject({ kind: 'child', is_running: true });
    const stream = await lotus(childId);
    expect((await post(`${t.url}/api/v1/stop/${childId}`)).status).toBe(200);
    expect(await stream.ended).toEqual({ done: true, serverClosed: true });
    expect(stream.events.at(-1)).toMatchObject({ type: 'error' });
    expect(await parent.ended).toEqual({ done: true, serverClosed: true });
    const history = await api<{ messages: { role: string }[] }>(`${t.url}/api/v1/history/${childId}`);
    expect(history.body.messages.map((message) => message.role)).toEqual(['system', 'user']);
  });

  it('keeps a never-run session live (heartbeat comments, no [DONE]) until its first run ends', async () => {
    t = await startTestServer({ agent: bambooUiAgent(), server: { pingIntervalMs: 20 } });
    const id = await newSession();
    const stream = await sse(id);
    await stream.until(({ comments }) => comments.includes('heartbeat'));
    expect(stream.text()).not.toContain('[DONE]');
    await post(`${t.url}/api/v1/chat`, { message: 'go', session_id: id, model: 'default' });
    await stream.ended;
    const { events, done, ids } = parseBambooFrames(stream.text(), 'sub_session');
    expect(done).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'complete' });
    expect(ids.length).toBeGreaterThan(0);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it('resumes from Last-Event-ID or ?after= with every later event, then the terminal and [DONE]', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const id = await newSession();
    const first = await sse(id);
    await post(`${t.url}/api/v1/chat`, { message: 'go', session_id: id, model: 'default' });
    await first.ended;
    const all = parseBambooFrames(first.text(), 'sub_session');
    expect(all.ids.length).toBeGreaterThan(3);
    const cut = all.ids[1] as number;
    const resumed = await sse(id, { 'last-event-id': String(cut) });
    await resumed.ended;
    const rest = parseBambooFrames(resumed.text(), 'sub_session');
    expect(rest.ids).toEqual(all.ids.filter((seq) => seq > cut));
    expect(rest.events.map((event) => event.type)).toEqual(all.events.slice(2).map((event) => event.type));
    expect(rest.done).toBe(true);
    const query = await sse(id, {}, '?after=0');
    await query.ended;
    expect(parseBambooFrames(query.text(), 'sub_session').ids).toEqual(all.ids);
    // A fresh subscriber to the finished session: no tokens, just the terminal, [DONE], end.
    const fresh = await sse(id);
    await fresh.ended;
    const oneShot = parseBambooFrames(fresh.text(), 'sub_session');
    expect(oneShot.events.map((event) => event.type)).toEqual(['complete']);
    expect(oneShot.done).toBe(true);
  });
});
