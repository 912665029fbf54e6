import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../machines/session.schema.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

type Problem = { type: string; title: string; status: number; detail: string; code: string };

describe('Sprout API /v1 on a real server', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('health, create a root (201 + Location), list, read', async () => {
    t = await startTestServer();
    expect((await api(`${t.url}/v1/health`)).body).toMatchObject({ ok: true, dialect: 'sub_session' });
    const created = await api<{ session: Session }>(`${t.url}/v1/sessions`, {
      body: { title: 'Plan the release', model: 'gpt-x', system_prompt: 'Be brief' },
    });
    expect(created.status).toBe(201);
    const root = created.body.session;
    expect(root).toMatchObject({ title: 'Plan the release', kind: 'root', root_session_id: root.id, spawn_depth: 0, model: 'gpt-x' });
    expect(root.messages).toMatchObject([{ role: 'system', content: 'Be brief' }]);
    expect(created.headers.get('location')).toBe(`/v1/sessions/${root.id}`);
    expect((await api<{ session: Session }>(`${t.url}/v1/sessions/${root.id}`)).body.session.id).toBe(root.id);
    const list = await api<{ sessions: { id: string; message_count: number }[] }>(`${t.url}/v1/sessions?kind=root`);
    expect(list.body.sessions).toEqual([expect.objectContaining({ id: root.id, message_count: 1 })]);
    const missing = await api<Problem>(`${t.url}/v1/sessions/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get('content-type')).toBe('application/problem+json');
    expect(missing.body).toMatchObject({ status: 404, code: 'SESSION_NOT_FOUND', title: 'Not Found' });
  });

  it('spawns children (202 + Location), lists them by parent, reports status and waits for them', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const spawned = await api<{ childSessionId: string; runId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Research', prompt: 'Find X', responsibility: 'sources' },
    });
    expect(spawned.status).toBe(202);
    expect(spawned.headers.get('location')).toBe(`/v1/sessions/${spawned.body.childSessionId}`);
    const second = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'Check', prompt: 'Check Y' },
    });
    const waited = await api<{ children: { childSessionId: string; status: string; result?: string }[] }>(
      `${t.url}/v1/sessions/${rootId}/wait?policy=all`,
    );
    expect(waited.status).toBe(200);
    expect(waited.body.children.map((child) => child.status)).toEqual(['completed', 'completed']);
    expect(waited.body.children.find((child) => child.childSessionId === second.body.childSessionId)?.result).toBe('Answer for Check');
    const status = await api<{ status: { status: string; runId: string; result: string } }>(
      `${t.url}/v1/sessions/${spawned.body.childSessionId}/status`,
    );
    expect(status.body.status).toMatchObject({ status: 'completed', runId: spawned.body.runId, result: 'Answer for Research' });
    const children = await api<{ sessions: { id: string; kind: string; metadata: Record<string, string> }[] }>(
      `${t.url}/v1/sessions?parent=${rootId}&kind=child`,
    );
    expect(children.body.sessions.map((session) => session.metadata.last_run_status)).toEqual(['completed', 'completed']);
    expect((await api(`${t.url}/v1/sessions?kind=root`)).body).toMatchObject({ sessions: [expect.objectContaining({ id: rootId })] });
  });

  it('refuses an unknown parent (404), a bad brief (422 with issues) and a child deeper than maxDepth (422)', async () => {
    t = await startTestServer({ scheduler: { maxDepth: 1 } });
    const rootId = await createRoot(t.url);
    const unknown = await api<Problem>(`${t.url}/v1/sessions/ghost/children`, { body: { title: 'x', prompt: 'y' } });
    expect(unknown.status).toBe(404);
    const bad = await api<Problem & { issues: { path: string[] }[] }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: '', prompt: 'y', extra: 1 },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.code).toBe('VALIDATION_FAILED');
    expect(bad.body.issues.length).toBeGreaterThan(0);
    const child = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'c', prompt: 'p' } });
    const deep = await api<Problem>(`${t.url}/v1/sessions/${child.body.childSessionId}/children`, { body: { title: 'g', prompt: 'p' } });
    expect(deep.status).toBe(422);
    expect(deep.body.code).toBe('SPAWN_DEPTH_EXCEEDED');
  });

  it('answers 429 with Retry-After when the queue is full', async () => {
    t = await startTestServer({ scheduler: { concurrency: 1, perParentConcurrency: 1, queueCapacity: 1 } });
    const rootId = await createRoot(t.url);
    const spawn = (title: string) => api<Problem>(`${t!.url}/v1/sessions/${rootId}/children`, { body: { title, prompt: '[hang]' } });
    expect((await spawn('running')).status).toBe(202);
    expect((await spawn('queued')).status).toBe(202);
    const refused = await spawn('refused');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.body.code).toBe('QUEUE_FULL');
  });

  it('cancels one run (reason user) or a whole tree (reason parent)', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    const a = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: '[hang]' } });
    const b = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'b', prompt: '[hang]' } });
    const one = await api<{ cancelled: number }>(`${t.url}/v1/sessions/${a.body.childSessionId}/cancel`, { method: 'POST' });
    expect(one.body.cancelled).toBe(1);
    const tree = await api<{ cancelled: number }>(`${t.url}/v1/sessions/${rootId}/cancel`, { body: { tree: true } });
    expect(tree.body.cancelled).toBe(1);
    const waited = await api<{ children: { childSessionId: string; status: string }[] }>(`${t.url}/v1/sessions/${rootId}/wait`);
    expect(waited.body.children.every((child) => child.status === 'cancelled')).toBe(true);
    expect((await t.scheduler.getChild(a.body.childSessionId))?.reason).toBe('user');
    expect((await t.scheduler.getChild(b.body.childSessionId))?.reason).toBe('parent');
    expect((await api(`${t.url}/v1/sessions/ghost/cancel`, { method: 'POST' })).status).toBe(404);
  });

  it('pages events as JSON with next_after', async () => {
    t = await startTestServer();
    const rootId = await createRoot(t.url);
    await api(`${t.url}/v1/sessions/${rootId}/children`, { body: { title: 'a', prompt: 'p' } });
    await api(`${t.url}/v1/sessions/${rootId}/wait`);
    const first = await api<{ events: { seq: number; event: { type: string } }[]; next_after: number }>(
      `${t.url}/v1/sessions/${rootId}/events?limit=3`,
    );
    expect(first.body.events.map((event) => event.seq)).toEqual([1, 2, 3]);
    expect(first.body.events[0]?.event.type).toBe('sub_session_started');
    expect(first.body.next_after).toBe(3);
    const rest = await api<{ events: { seq: number; event: { type: string } }[]; next_after: number }>(
      `${t.url}/v1/sessions/${rootId}/events?after=3&limit=1000`,
    );
    expect(rest.body.events[0]?.seq).toBe(4);
    expect(rest.body.events.at(-1)?.event.type).toBe('sub_session_completed');
    expect((await api(`${t.url}/v1/sessions/${rootId}/events?after=-1`)).status).toBe(422);
  });
});
