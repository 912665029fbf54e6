import { afterEach, describe, expect, it } from 'vitest';
import { bambooSummarySchema } from './support/bamboo-schemas.js';
import { bambooUiAgent } from './support/bamboo-ui-agent.js';
import { lotusSubscribe } from './support/lotus-sse.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

const JSON_HEADERS = { 'content-type': 'application/json' };
const call = <T = Record<string, unknown>>(url: string, method = 'GET', body?: unknown) =>
  api<T>(url, { method, headers: JSON_HEADERS, ...(body === undefined ? {} : { body }) });
interface Message {
  id: string;
  role: string;
  content: string;
}

describe("lotus-next's conversation edits against sprout serve", () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });
  /** A root with one finished exchange (user, assistant with tools, answer). */
  const conversation = async (): Promise<{ base: string; id: string; messages: Message[] }> => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const base = t.url;
    const chat = await call<{ session_id: string }>(`${base}/api/v1/chat`, 'POST', { message: 'first', system_prompt: 'Be brief' });
    const id = chat.body.session_id;
    const stream = await lotusSubscribe(`${base}/api/v1/events/${id}`, JSON_HEADERS);
    await stream.ended;
    const history = await call<{ messages: Message[] }>(`${base}/api/v1/history/${id}`);
    return { base, id, messages: history.body.messages };
  };

  it('edits a message, restores to it and runs it again (edit and resend)', async () => {
    const { base, id, messages } = await conversation();
    const user = messages.find((message) => message.role === 'user') as Message;
    const edited = await call(`${base}/api/v1/sessions/${id}/messages/${user.id}`, 'PATCH', { content: 'second' });
    expect(edited.body).toEqual({ success: true, session_id: id, message_id: user.id });
    const restored = await call(`${base}/api/v1/sessions/${id}/restore`, 'POST', { target_message_id: user.id, restore_files: true });
    expect(restored.body).toMatchObject({ success: true, messages_removed: 4, message_count: 2, restore_files: false, restored_files: 0 });
    const stream = await lotusSubscribe(`${base}/api/v1/events/${id}`, JSON_HEADERS);
    expect((await call<{ status: string }>(`${base}/api/v1/execute/${id}`, 'POST', {})).body.status).toBe('started');
    await stream.ended;
    const after = (await call<{ messages: Message[] }>(`${base}/api/v1/history/${id}`)).body.messages;
    expect(after.at(-1)?.content).toBe('Answer to second');
    expect((await call(`${base}/api/v1/sessions/${id}/messages/nope`, 'PATCH', { content: 'x' })).status).toBe(404);
  });

  it('forks up to a message into a new root, clears a session, reads its prompt and task list', async () => {
    const { base, id, messages } = await conversation();
    const forked = await call<{ session: { id: string; title: string } }>(`${base}/api/v1/sessions/${id}/fork`, 'POST', {
      up_to_message_id: messages[1]?.id,
    });
    expect(forked.status).toBe(201);
    expect(bambooSummarySchema.parse(forked.body.session)).toMatchObject({ kind: 'root', message_count: 2 });
    const forkId = forked.body.session.id;
    expect((await call<{ messages: Message[] }>(`${base}/api/v1/history/${forkId}`)).body.messages.map((m) => m.content)).toEqual([
      'Be brief',
      'first',
    ]);
    expect((await call<{ sessions: unknown[] }>(`${base}/api/v1/sessions`)).body.sessions).toHaveLength(2);

    expect((await call(`${base}/api/v1/sessions/${id}/system-prompt`)).body).toEqual({ session_id: id, base_system_prompt: 'Be brief' });
    expect((await call(`${base}/api/v1/task/${id}`)).body).toMatchObject({ session_id: id, title: null, items: [] });
    const cleared = await call(`${base}/api/v1/sessions/${id}/clear`, 'POST');
    expect(cleared.body).toMatchObject({ success: true, messages_removed: 5, message_count: 1 });
    expect((await call<{ messages: Message[] }>(`${base}/api/v1/history/${id}`)).body.messages.map((m) => m.role)).toEqual(['system']);
  });

  it('refuses edits while the session runs, and answers what Sprout does not build with a typed 501', async () => {
    t = await startTestServer({ agent: bambooUiAgent() });
    const base = t.url;
    const id = (await call<{ session_id: string }>(`${base}/api/v1/chat`, 'POST', { message: 'wait [hang]' })).body.session_id;
    expect((await call(`${base}/api/v1/sessions/${id}/clear`, 'POST')).status).toBe(409);
    await call(`${base}/api/v1/stop/${id}`, 'POST');
    for (const [method, path] of [
      ['GET', 'schedules'],
      ['POST', 'sessions/cleanup'],
      ['POST', `respond/${id}`],
      ['GET', 'metrics/summary'],
      ['GET', 'stream'],
      ['POST', `sessions/${id}/regenerate-title`],
      ['POST', 'prompt-presets'],
      ['DELETE', 'prompt-presets/p1'],
    ] as const) {
      const answer = await call(`${base}/api/v1/${path}`, method, method === 'POST' ? {} : undefined);
      expect([path, answer.status, answer.body]).toEqual([path, 501, expect.objectContaining({ code: 'NOT_IMPLEMENTED' })]);
    }
    expect((await call(`${base}/api/v1/no-such-thing`)).status).toBe(404);
  });
});
