import { afterEach, describe, expect, it } from 'vitest';
import { bambooSummarySchema, parseBambooFrames } from './support/bamboo-schemas.js';
import { openSse } from './support/sse-parser.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

describe.each(['sub_session', 'sub_agent'] as const)('Bamboo-compatible API /api/v1 (dialect %s)', (dialect) => {
  let t: TestServer | undefined;
  const closers: (() => void)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) close();
    await t?.close();
    t = undefined;
  });

  it('streams bare Bamboo events framed "id: <seq>\\ndata: <json>\\n\\n", in the dialect, with heartbeats', async () => {
    t = await startTestServer({ server: { dialect, pingIntervalMs: 25 } });
    const rootId = await createRoot(t.url);
    const stream = await openSse(`${t.url}/api/v1/events/${rootId}`);
    closers.push(() => stream.close());
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'ok', prompt: 'p' } });
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'bad', prompt: '[fail]' } });
    await stream.until(() => (stream.text().match(new RegExp(`"${dialect}_completed"`, 'g')) ?? []).length === 2);
    await stream.until(() => stream.text().includes(': heartbeat\n\n'));
    const { events, heartbeats } = parseBambooFrames(stream.text(), dialect);
    expect(heartbeats).toBeGreaterThan(0);
    const types = new Set(events.map((event) => event.type));
    expect([...types].sort()).toEqual([`${dialect}_completed`, `${dialect}_event`, `${dialect}_heartbeat`, `${dialect}_started`].sort());
    const inner = events
      .filter((event) => event.type === `${dialect}_event`)
      .map((event) => event.event as { type: string; result?: unknown; usage?: unknown });
    expect(inner.find((event) => event.type === 'tool_complete')?.result).toEqual({ success: true, result: '{"hits":3}' });
    const usage = inner.find((event) => event.type === 'complete')?.usage as Record<string, unknown>;
    expect(['prompt_tokens', 'completion_tokens', 'total_tokens'].map((key) => typeof usage[key])).toEqual(['number', 'number', 'number']);
    expect(
      events
        .filter((event) => event.type === `${dialect}_completed`)
        .map((event) => event.status)
        .sort(),
    ).toEqual(['completed', 'error']);
    expect(stream.text()).not.toMatch(/^(event|retry):/m);
  });

  it('drops stream_truncated (not a Bamboo event) on a replay', async () => {
    t = await startTestServer({ server: { dialect }, scheduler: { eventRetention: 3 } });
    const rootId = await createRoot(t.url);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'ok', prompt: 'p' } });
    await api(`${t.url}/v1/sessions/${rootId}/wait`);
    const stream = await openSse(`${t.url}/api/v1/events/${rootId}?after=0`);
    closers.push(() => stream.close());
    await stream.until(() => stream.text().includes(`"${dialect}_completed"`));
    const { events } = parseBambooFrames(stream.text(), dialect);
    expect(events).toHaveLength(3);
    expect(stream.text()).not.toContain('stream_truncated');
  });

  it('answers an unknown session with 404 {error, session_id}', async () => {
    t = await startTestServer({ server: { dialect } });
    const response = await api(`${t.url}/api/v1/events/ghost`);
    expect(response.status).toBe(404);
    expect(response.body).toEqual({ error: 'Session not found', session_id: 'ghost' });
  });

  it('stop, sessions, session, history and delete in Bamboo shapes', async () => {
    t = await startTestServer({ server: { dialect } });
    const rootId = await createRoot(t.url);
    const child = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'hang', prompt: '[hang]' },
    });
    const childId = child.body.childSessionId;
    const list = await api<{ sessions: unknown[] }>(`${t.url}/api/v1/sessions`);
    expect(list.body.sessions).toHaveLength(2);
    for (const summary of list.body.sessions) expect(bambooSummarySchema.safeParse(summary).success).toBe(true);
    expect(list.body.sessions).toContainEqual(
      expect.objectContaining({ id: childId, kind: 'child', parent_session_id: rootId, spawn_depth: 1, message_count: 2 }),
    );
    expect((await api(`${t.url}/api/v1/sessions/${childId}`)).body).toMatchObject({ session: { id: childId, kind: 'child' } });
    const history = await api<{ session_id: string; messages: { role: string }[] }>(`${t.url}/api/v1/history/${childId}`);
    expect(history.body.session_id).toBe(childId);
    expect(history.body.messages.map((message) => message.role)).toEqual(['system', 'user']);

    const stopped = await api<{ success: boolean; message: unknown }>(`${t.url}/api/v1/stop/${childId}`, { method: 'POST' });
    expect(stopped.status).toBe(200);
    expect(stopped.body.success).toBe(true);
    expect(typeof stopped.body.message).toBe('string');
    await api(`${t.url}/v1/sessions/${rootId}/wait`);
    expect(await t.scheduler.getChild(childId)).toMatchObject({ status: 'cancelled', reason: 'user' });
    const again = await api<{ success: boolean; message: unknown }>(`${t.url}/api/v1/stop/${childId}`, { method: 'POST' });
    expect(again.status).toBe(404);
    expect(again.body.success).toBe(false);
    expect(typeof again.body.message).toBe('string');
    expect((await api(`${t.url}/api/v1/stop/ghost`, { method: 'POST' })).status).toBe(404);

    const second = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'hang2', prompt: '[hang]' },
    });
    const deleted = await api(`${t.url}/api/v1/sessions/${rootId}`, { method: 'DELETE' });
    expect(deleted.status).toBe(200);
    expect(deleted.body).toMatchObject({ success: true });
    expect(await t.scheduler.getChild(second.body.childSessionId)).toMatchObject({ status: 'cancelled', reason: 'deleted' });
    expect((await api(`${t.url}/api/v1/sessions/${rootId}`)).status).toBe(404);
    expect((await api<{ sessions: unknown[] }>(`${t.url}/api/v1/sessions`)).body.sessions).toEqual([]);
  });
});
