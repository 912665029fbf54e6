import { afterEach, describe, expect, it } from 'vitest';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';
import { openSse } from './support/sse-parser.js';

type Problem = { status: number; code: string; run_id?: string };

describe('POST /v1/sessions/{id}/messages on a real server', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it("runs a root's agent: 202 with the run id, its events and one terminal event on the root's SSE stream", async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const stream = await openSse(`${t.url}/v1/sessions/${rootId}/events?after=0`);
    const sent = await api<{ sessionId: string; runId: string }>(`${t.url}/v1/sessions/${rootId}/messages`, {
      body: { message: 'Plan it' },
    });
    expect(sent.status).toBe(202);
    expect(sent.body).toEqual({ sessionId: rootId, runId: expect.any(String) as string });
    expect(sent.headers.get('location')).toBe(`/v1/sessions/${rootId}/status`);
    const parse = await stream.until((p) => p.frames.some((frame) => frame.event === 'complete'));
    stream.close();
    const types = parse.frames.map((frame) => (JSON.parse(frame.data) as { type: string }).type);
    expect(types).toEqual(parse.frames.map((frame) => frame.event));
    expect(types[0]).toBe('token');
    expect(types.filter((type) => type === 'complete' || type === 'error')).toEqual(['complete']);
    expect(types.some((type) => type.startsWith('sub_session'))).toBe(false);
    const status = await api<{ status: { status: string; runId: string } }>(`${t.url}/v1/sessions/${rootId}/status`);
    expect(status.body.status).toMatchObject({ status: 'completed', runId: sent.body.runId });
  });

  it('a second message while the session runs is 409 SESSION_BUSY; bad bodies are 422; unknown sessions 404', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const first = await api<{ runId: string }>(`${t.url}/v1/sessions/${rootId}/messages`, { body: { message: '[hang]' } });
    expect(first.status).toBe(202);
    const second = await api<Problem>(`${t.url}/v1/sessions/${rootId}/messages`, { body: { message: 'again' } });
    expect(second.status).toBe(409);
    expect(second.body).toMatchObject({ status: 409, code: 'SESSION_BUSY', run_id: first.body.runId });
    for (const body of [{}, { message: '' }, { message: 1 }, { message: 'x', other: true }]) {
      expect((await api(`${t.url}/v1/sessions/${rootId}/messages`, { body })).status).toBe(422);
    }
    expect((await api(`${t.url}/v1/sessions/ghost/messages`, { body: { message: 'x' } })).status).toBe(404);
    // Cancelling the run frees the session for the next message.
    const cancelled = await api<{ cancelled: number }>(`${t.url}/v1/sessions/${rootId}/cancel`, { method: 'POST' });
    expect(cancelled.body.cancelled).toBe(1);
    await t.scheduler.waitForChildren(rootId);
    let next = await api(`${t.url}/v1/sessions/${rootId}/messages`, { body: { message: 'fresh start' } });
    for (let i = 0; next.status === 409 && i < 200; i++) {
      await new Promise((resolve) => setImmediate(resolve));
      next = await api(`${t.url}/v1/sessions/${rootId}/messages`, { body: { message: 'fresh start' } });
    }
    expect(next.status).toBe(202);
  });
});
