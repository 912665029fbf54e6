import { afterEach, describe, expect, it } from 'vitest';
import { bambooEventSchema, bambooSummarySchema } from './support/bamboo-schemas.js';
import { bambooUiAgent } from './support/bamboo-ui-agent.js';
import { lotusSubscribe, type LotusStream } from './support/lotus-sse.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

/** lotus-next's ApiClient: `Content-Type: application/json` on every call, GET included. */
const JSON_HEADERS = { 'content-type': 'application/json' };
const get = <T = Record<string, unknown>>(url: string) => api<T>(url, { headers: JSON_HEADERS });
const post = <T = Record<string, unknown>>(url: string, body?: unknown) =>
  api<T>(url, { method: 'POST', headers: JSON_HEADERS, ...(body === undefined ? {} : { body }) });

interface Summary {
  id: string;
  is_running: boolean;
  last_run_status?: string;
  running_child_count: number;
}

describe('lotus-next (REST calls, SSE in place of its WebSocket) against sprout serve', () => {
  let t: TestServer | undefined;
  const streams: LotusStream[] = [];
  afterEach(async () => {
    for (const stream of streams.splice(0)) stream.close();
    await t?.close();
    t = undefined;
  });

  it('boots through the settings endpoints, sends without a session (the server creates it), runs, stops, retries', async () => {
    t = await startTestServer({ agent: bambooUiAgent(), server: { dialect: 'sub_agent', defaultModel: 'gpt-test', models: ['gpt-test'] } });
    const base = t.url;
    // Boot (§3.1).
    expect((await get(`${base}/v1/bamboo/access/status`)).body).toEqual({
      password_enabled: false,
      local_bypass: true,
      requires_password: false,
    });
    expect((await get(`${base}/v1/bamboo/setup/status`)).body).toMatchObject({ is_complete: true });
    expect((await get(`${base}/api/v1/health`)).status).toBe(200);
    const instances = await get<{ defaults: { chat: { model: string } } }>(`${base}/v1/bamboo/settings/provider-instances`);
    const model = instances.body.defaults.chat.model;
    expect(model).toBe('gpt-test');
    expect((await get(`${base}/api/v1/sessions`)).body).toMatchObject({ sessions: [] });
    expect((await get(`${base}/api/v1/runs/active`)).body).toEqual({ sessions: [] });
    expect((await get(`${base}/v1/bamboo/config`)).status).toBe(200);
    expect((await post(`${base}/v1/bamboo/provider-catalog/fetch-models`, {})).body).toEqual({ fetched: [] });
    // An empty JSON-typed POST body is accepted too (§0.2).
    expect((await post(`${base}/v1/bamboo/provider-catalog/fetch-models`)).status).toBe(200);
    expect((await get(`${base}/api/v1/prompt-presets`)).body).toEqual({ prompts: [] });
    expect((await get(`${base}/v1/skills`)).status).toBe(200);

    // A model outside the server's allow-list is refused before anything runs; "" means the default.
    const refused = await post(`${base}/api/v1/chat`, { message: 'hi', model: 'gpt-expensive' });
    expect(refused.status).toBe(422);
    expect(refused.body).toMatchObject({ code: 'MODEL_NOT_ALLOWED' });

    // Send (§3.1): no session_id, so the server creates the session.
    const chat = await post<{ session_id: string; status: string }>(`${base}/api/v1/chat`, {
      message: 'find y',
      model: '',
      copilot_conclusion_with_options_enhancement_enabled: false,
      system_prompt: 'Be brief',
      workspace_path: '/tmp',
    });
    expect(chat.status).toBe(201);
    expect(chat.body.status).toBe('streaming');
    const id = chat.body.session_id;
    const list = await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`);
    expect(list.body.sessions.map((session) => bambooSummarySchema.parse(session).id)).toEqual([id]);
    // runStream: execute and subscribe at the same time.
    const [execute, stream] = await Promise.all([
      post<{ status: string }>(`${base}/api/v1/execute/${id}`, { model }),
      lotusSubscribe(`${base}/api/v1/events/${id}`),
    ]);
    streams.push(stream);
    expect(execute.status).toBe(202);
    expect(execute.body.status).toBe('started');
    expect(await stream.ended).toEqual({ done: true, serverClosed: true });
    const schema = bambooEventSchema('sub_agent');
    for (const event of stream.events) expect(schema.safeParse(event).success).toBe(true);
    expect(stream.events.at(-1)).toMatchObject({ type: 'complete' });
    const history = await get<{ messages: { role: string; tool_name?: string }[] }>(`${base}/api/v1/history/${id}`);
    expect(history.body.messages.map((message) => message.role)).toEqual(['system', 'user', 'assistant', 'tool', 'tool', 'assistant']);
    expect(history.body.messages[3]).toMatchObject({ tool_name: 'web_search', tool_success: true });

    // A long run: the summary and runs/active show it, then stop.
    await post(`${base}/api/v1/chat`, { message: 'dig [hang]', session_id: id, model });
    const busy = await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`);
    expect(busy.body.sessions[0]).toMatchObject({ id, is_running: true });
    const active = await get<{ sessions: { session_id: string; run_id: string }[] }>(`${base}/api/v1/runs/active`);
    expect(active.body.sessions).toEqual([expect.objectContaining({ session_id: id, running_child_session_ids: [] })]);
    const second = await post(`${base}/api/v1/chat`, { message: 'again', session_id: id, model });
    expect(second.status).toBe(409);
    expect(typeof second.body.error).toBe('string');
    const [stopped, stoppedStream] = await Promise.all([post(`${base}/api/v1/stop/${id}`), lotusSubscribe(`${base}/api/v1/events/${id}`)]);
    streams.push(stoppedStream);
    expect(stopped.body).toMatchObject({ success: true });
    expect(await stoppedStream.ended).toEqual({ done: true, serverClosed: true });
    // lotus-next knows Bamboo's `cancelled` (onCancelled: no error banner).
    expect(stoppedStream.events.at(-1)).toEqual({ type: 'cancelled', message: 'Agent execution cancelled by user' });
    const idle = await get<{ sessions: Summary[] }>(`${base}/api/v1/sessions`);
    expect(idle.body.sessions[0]).toMatchObject({ is_running: false, last_run_status: 'cancelled' });

    // Retry (error_retry): the cancelled user turn runs again.
    const truncated = await post(`${base}/api/v1/sessions/${id}/messages/truncate`, { mode: 'error_retry' });
    expect(truncated.body).toMatchObject({ success: true, messages_removed: 0 });
    const [rerun, rerunStream] = await Promise.all([
      post<{ status: string }>(`${base}/api/v1/execute/${id}`, { model }),
      lotusSubscribe(`${base}/api/v1/events/${id}`),
    ]);
    streams.push(rerunStream);
    expect(rerun.body.status).toBe('started');
    const count = (await get<{ messages: unknown[] }>(`${base}/api/v1/history/${id}`)).body.messages.length;
    expect(count).toBe(7);
    await post(`${base}/api/v1/stop/${id}`);
    expect(await rerunStream.ended).toEqual({ done: true, serverClosed: true });
  });
});
