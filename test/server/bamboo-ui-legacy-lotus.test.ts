import { afterEach, describe, expect, it } from 'vitest';
import { bambooEventSchema, bambooSummarySchema } from './support/bamboo-schemas.js';
import { bambooUiAgent } from './support/bamboo-ui-agent.js';
import { lotusSubscribe, type LotusStream } from './support/lotus-sse.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

/** Every request of Lotus's ApiClient carries `Content-Type: application/json`, GET and DELETE included. */
const JSON_HEADERS = { 'content-type': 'application/json' };
const get = <T = Record<string, unknown>>(url: string) => api<T>(url, { headers: JSON_HEADERS });
const post = <T = Record<string, unknown>>(url: string, body?: unknown) =>
  api<T>(url, { method: 'POST', headers: JSON_HEADERS, ...(body === undefined ? {} : { body }) });

interface Summary {
  id: string;
  is_running: boolean;
  last_run_status?: string;
  pinned: boolean;
  title: string;
  running_child_count: number;
}
interface HistoryMessage {
  id: string;
  role: string;
  content: string;
  tool_calls?: { id: string; type: string; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
  tool_success?: boolean;
}

describe('legacy Lotus (Bamboo-bot) against sprout serve', () => {
  let t: TestServer | undefined;
  const streams: LotusStream[] = [];
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await t?.close();
    t = undefined;
  });
  const subscribe = async (id: string): Promise<LotusStream> => {
    const stream = await lotusSubscribe(`${t?.url}/api/v1/events/${id}`);
    streams.push(stream);
    return stream;
  };
  const eventSchema = bambooEventSchema('sub_session');

  it('boots, sends a message, streams it to [DONE], reloads history, resubscribes to a one-shot terminal', async () => {
    t = await startTestServer({ agent: bambooUiAgent(), server: { defaultModel: 'gpt-test' } });
    const base = t.url;
    // Boot (§2.1): setup, health, the session list (empty), then a first session.
    expect((await get(`${base}/v1/bamboo/setup/status`)).body).toMatchObject({ is_complete: true });
    expect((await get(`${base}/api/v1/health`)).status).toBe(200);
    const empty = await get<{ sessions: unknown[]; total: number }>(`${base}/api/v1/sessions`);
    expect(empty.body).toMatchObject({ sessions: [], total: 0, limit: 200, offset: 0 });
    const created = await post<{ session: Summary }>(`${base}/api/v1/sessions`, { title: 'New Session' });
    expect(created.status).toBe(201);
    expect(bambooSummarySchema.parse(created.body.session)).toMatchObject({ title: 'New Session', is_running: false, kind: 'root' });
    const id = created.body.session.id;
    expect((await get(`${base}/api/v1/history/${id}`)).body).toMatchObject({ session_id: id, messages: [] });
    expect((await get(`${base}/v1/bamboo/config`)).status).toBe(200);
    expect((await get(`${base}/openai/v1/models`)).body).toMatchObject({ data: [{ id: 'gpt-test' }] });
    const provider = await get<{ provider: string; providers: Record<string, { model?: string }> }>(`${base}/v1/bamboo/settings/provider`);
    const model = provider.body.providers[provider.body.provider]?.model;
    expect(model).toBe('gpt-test');
    expect((await get(`${base}/api/v1/respond/${id}/pending`)).body).toEqual({ has_pending_question: false });

    // Send (§2.1): chat, execute, then the SSE subscription (processing → subscribe).
    const chat = await post<{ session_id: string; status: string }>(`${base}/api/v1/chat`, { message: 'find x', session_id: id, model });
    expect(chat.status).toBe(201);
    expect(chat.body).toMatchObject({ session_id: id, status: 'streaming', stream_url: `/api/v1/events/${id}` });
    const execute = await post<{ status: string }>(`${base}/api/v1/execute/${id}`, { model });
    expect(execute.body).toMatchObject({ session_id: id, events_url: `/api/v1/events/${id}` });
    expect(['started', 'already_running']).toContain(execute.body.status);
    const stream = await subscribe(id);
    expect(stream.status).toBe(200);
    const end = await stream.ended;
    expect(end).toEqual({ done: true, serverClosed: true });
    expect(stream.unparsed).toEqual([]);
    for (const event of stream.events) expect(eventSchema.safeParse(event).success).toBe(true);
    expect(stream.events.at(-1)).toMatchObject({ type: 'complete' });
    expect(stream.events.filter((event) => event.type === 'complete' || event.type === 'error')).toHaveLength(1);

    // complete → history reload: the assistant's tool calls, then role:'tool' results.
    const history = await get<{ messages: HistoryMessage[]; total_message_count: number }>(`${base}/api/v1/history/${id}`);
    const messages = history.body.messages;
    expect(messages.map((message) => message.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
    expect(messages[1]?.tool_calls).toEqual([
      { id: 'call-1', type: 'function', function: { name: 'web_search', arguments: JSON.stringify({ q: 'find x' }) } },
      { id: 'call-2', type: 'function', function: { name: 'read_file', arguments: '{"path":"x"}' } },
    ]);
    expect(messages[2]).toMatchObject({ tool_call_id: 'call-1', content: '{"hits":3}', tool_success: true });
    expect(messages[3]).toMatchObject({ tool_call_id: 'call-2', content: 'Error: no such file', tool_success: false });
    expect(messages[4]).toMatchObject({ content: 'Answer to find x' });
    expect(history.body.total_message_count).toBe(5);

    // The reconnect right after [DONE] (still processing while history reloads) gets a one-shot terminal.
    const again = await subscribe(id);
    expect(await again.ended).toEqual({ done: true, serverClosed: true });
    expect(again.events.map((event) => event.type)).toEqual(['complete']);

    const list = await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`);
    expect(list.body.sessions).toHaveLength(1);
    expect(bambooSummarySchema.parse(list.body.sessions[0])).toMatchObject({
      id,
      is_running: false,
      last_run_status: 'completed',
      message_count: 5,
    });
  });

  it('stop: 200 then the stream ends with an error event and [DONE]; a resubscribe gets the one-shot error', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const base = t.url;
    const { body } = await post<{ session: Summary }>(`${base}/api/v1/sessions`, { title: 'New Session' });
    const id = body.session.id;
    await post(`${base}/api/v1/chat`, { message: 'work [hang]', session_id: id, model: 'default' });
    await post(`${base}/api/v1/execute/${id}`, { model: 'default' });
    const stream = await subscribe(id);
    // Tokens are never replayed: the stream is live, and the list says the run is on.
    const running = await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`);
    expect(running.body.sessions[0]).toMatchObject({ id, is_running: true });
    expect(['pending', 'running']).toContain(running.body.sessions[0]?.last_run_status);
    // Lotus posts stop with no body but `Content-Type: application/json`.
    const stopped = await post(`${base}/api/v1/stop/${id}`);
    expect(stopped.status).toBe(200);
    expect(stopped.body).toMatchObject({ success: true, message: 'Agent execution stopped' });
    expect(await stream.ended).toEqual({ done: true, serverClosed: true });
    // Legacy Lotus knows no `cancelled`: Bamboo's seed ended a stopped run with this error.
    expect(stream.events.at(-1)).toEqual({ type: 'error', message: 'Agent execution cancelled by user' });
    const again = await subscribe(id);
    expect(await again.ended).toEqual({ done: true, serverClosed: true });
    expect(again.events).toEqual([{ type: 'error', message: 'Agent execution cancelled by user' }]);
    const idle = await post(`${base}/api/v1/stop/${id}`);
    expect(idle.status).toBe(404);
    expect(idle.body).toMatchObject({ success: false });
    expect((await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`)).body.sessions[0]).toMatchObject({
      is_running: false,
      last_run_status: 'cancelled',
    });
  });

  it('retry: truncate, history, subscribe before execute (the stream stays live), execute runs the turn again', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const base = t.url;
    const { body } = await post<{ session: Summary }>(`${base}/api/v1/sessions`, { title: 'New Session' });
    const id = body.session.id;
    await post(`${base}/api/v1/chat`, { message: 'first', session_id: id, model: 'default' });
    await post(`${base}/api/v1/execute/${id}`, { model: 'default' });
    await (
      await subscribe(id)
    ).ended;

    const truncated = await post(`${base}/api/v1/sessions/${id}/messages/truncate`, { mode: 'after_last_user' });
    expect(truncated.body).toEqual({ success: true, session_id: id, messages_removed: 4, message_count: 1 });
    const history = await get<{ messages: HistoryMessage[] }>(`${base}/api/v1/history/${id}`);
    expect(history.body.messages.map((message) => message.role)).toEqual(['user']);
    expect((await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`)).body.sessions[0]).toMatchObject({ last_run_status: 'pending' });
    // Subscribe first: a pending user turn is never one-shot-terminated.
    const stream = await subscribe(id);
    const execute = await post<{ status: string }>(`${base}/api/v1/execute/${id}`, { model: 'default' });
    expect(execute.status).toBe(202);
    expect(execute.body.status).toBe('started');
    await stream.until((s) => s.events.some((event) => event.type === 'tool_start'));
    expect(await stream.ended).toEqual({ done: true, serverClosed: true });
    expect(stream.events.at(-1)).toMatchObject({ type: 'complete' });
    const after = await get<{ messages: HistoryMessage[] }>(`${base}/api/v1/history/${id}`);
    expect(after.body.messages.map((message) => message.role)).toEqual(['user', 'assistant', 'tool', 'tool', 'assistant']);
    expect(after.body.messages[0]?.content).toBe('first');
    // Nothing left to run: execute says so.
    expect((await post(`${base}/api/v1/execute/${id}`, { model: 'default' })).body).toMatchObject({ status: 'completed' });
  });

  it('rename, pin, delete a message, delete the session; the list is newest first', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const base = t.url;
    const first = (await post<{ session: Summary }>(`${base}/api/v1/sessions`, { title: 'One' })).body.session.id;
    const second = (await post<{ session: Summary }>(`${base}/api/v1/sessions`, { title: 'Two' })).body.session.id;
    const order = async () => (await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`)).body.sessions.map((s) => s.id);
    expect(await order()).toEqual([second, first]);
    await post(`${base}/api/v1/chat`, { message: 'hello', session_id: first, model: 'default' });
    await (
      await subscribe(first)
    ).ended;
    expect(await order()).toEqual([first, second]);

    const renamed = await api<{ session: Summary }>(`${base}/api/v1/sessions/${second}`, {
      method: 'PATCH',
      headers: JSON_HEADERS,
      body: { title: 'Renamed' },
    });
    expect(renamed.status).toBe(200);
    expect(renamed.body.session).toMatchObject({ title: 'Renamed', title_version: 1 });
    await api(`${base}/api/v1/sessions/${second}`, { method: 'PATCH', headers: JSON_HEADERS, body: { pinned: true } });
    const read = await get<{ session: Summary }>(`${base}/api/v1/sessions/${second}`);
    expect(bambooSummarySchema.parse(read.body.session)).toMatchObject({ title: 'Renamed', pinned: true });

    const messages = (await get<{ messages: HistoryMessage[] }>(`${base}/api/v1/history/${first}`)).body.messages;
    const last = messages.at(-1) as HistoryMessage;
    const removed = await api(`${base}/api/v1/sessions/${first}/messages/${last.id}`, { method: 'DELETE', headers: JSON_HEADERS });
    expect(removed.body).toMatchObject({ success: true, message_count: messages.length - 1 });
    expect((await api(`${base}/api/v1/sessions/${first}/messages/nope`, { method: 'DELETE', headers: JSON_HEADERS })).status).toBe(404);

    expect((await api(`${base}/api/v1/sessions/${second}`, { method: 'DELETE', headers: JSON_HEADERS })).status).toBe(200);
    expect(await order()).toEqual([first]);
    expect((await get(`${base}/api/v1/sessions/${second}`)).status).toBe(404);
  });
});
