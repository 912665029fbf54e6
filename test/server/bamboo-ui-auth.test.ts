import { afterEach, describe, expect, it } from 'vitest';
import { LotusSocket } from './support/lotus-socket.js';
import { api, startTestServer, type TestServer } from './support/test-server.js';

const TOKEN = 'a-long-enough-test-token-123456';
/** lotus-next's dev server, on the same host name as the backend (so its cookie is same-site). */
const UI = 'http://127.0.0.1:5173';
/** What lotus-next's ApiClient sends from the browser: JSON type and the page's Origin. */
const FROM_UI = { 'content-type': 'application/json', origin: UI };

describe("lotus-next's login screen against sprout serve --token", () => {
  let t: TestServer | undefined;
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const close of closers.splice(0)) await close();
    await t?.close();
    t = undefined;
  });

  it('asks for the password, exchanges the token for an HttpOnly SameSite cookie, then REST and /v2/stream work', async () => {
    t = await startTestServer({ server: { token: TOKEN, cors: UI, dialect: 'sub_agent' } });
    const base = t.url;
    // Boot: the access probe and the health check are public; everything else needs the token.
    const status = await api(`${base}/v1/bamboo/access/status`, { headers: FROM_UI });
    expect(status.status).toBe(200);
    expect(status.body).toEqual({ password_enabled: true, local_bypass: false, requires_password: true });
    expect((await api(`${base}/api/v1/health`, { headers: FROM_UI })).status).toBe(200);
    expect((await api(`${base}/v1/bamboo/setup/status`, { headers: FROM_UI })).status).toBe(401);

    // PasswordGate: a wrong password is a 401 (the gate shows its error), the token logs in.
    const wrong = await api(`${base}/v1/bamboo/access/verify`, { method: 'POST', headers: FROM_UI, body: { password: 'nope' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    const verified = await api(`${base}/v1/bamboo/access/verify`, { method: 'POST', headers: FROM_UI, body: { password: TOKEN } });
    expect(verified.status).toBe(200);
    expect(verified.body).toEqual({ success: true });
    expect(verified.headers.get('access-control-allow-origin')).toBe(UI);
    expect(verified.headers.get('access-control-allow-credentials')).toBe('true');
    const setCookie = verified.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^sprout_token=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/);
    const cookie = setCookie.split(';')[0] as string;
    const signedIn = { ...FROM_UI, cookie };

    // What the browser then sends with `credentials: 'include'`.
    expect((await api(`${base}/v1/bamboo/access/status`, { headers: signedIn })).body).toMatchObject({ requires_password: false });
    expect((await api(`${base}/v1/bamboo/setup/status`, { headers: signedIn })).status).toBe(200);
    const chat = await api<{ session_id: string }>(`${base}/api/v1/chat`, { method: 'POST', headers: signedIn, body: { message: 'hi' } });
    expect(chat.status).toBe(201);
    const id = chat.body.session_id;
    // The socket's handshake carries the cookie and the page's Origin.
    const socket = await LotusSocket.open(base, { cookie, origin: UI });
    closers.push(() => socket.close());
    socket.send({ type: 'hello' });
    socket.send({ type: 'subscribe', ch: `agent.${id}` });
    await api(`${base}/api/v1/execute/${id}`, { method: 'POST', headers: signedIn, body: {} });
    await socket.terminal(id);
    expect(socket.on(`agent.${id}`).some((frame) => frame.event?.type === 'complete')).toBe(true);
    // Without the cookie the same handshake is refused.
    await expect(LotusSocket.open(base, { origin: UI })).rejects.toThrow(/401/);
  });

  it('keeps CSRF protection for cookie-authenticated writes', async () => {
    t = await startTestServer({ server: { token: TOKEN, cors: UI } });
    const base = t.url;
    const login = await api(`${base}/v1/bamboo/access/verify`, { method: 'POST', headers: FROM_UI, body: { password: TOKEN } });
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] as string;
    const id = (
      await api<{ session: { id: string } }>(`${base}/api/v1/sessions`, { method: 'POST', headers: { ...FROM_UI, cookie }, body: {} })
    ).body.session.id;
    // A form on another site (the cookie attached, as a lax browser would): refused before auth counts.
    const form = await api(`${base}/api/v1/sessions/${id}`, {
      method: 'DELETE',
      headers: { cookie, origin: 'https://evil.example', 'content-type': 'text/plain' },
    });
    expect(form.status).toBe(403);
    expect(form.body).toMatchObject({ code: 'CSRF_REJECTED' });
    // A JSON write from another site needs a preflight, which names no other origin.
    const preflight = await fetch(`${base}/api/v1/sessions/${id}`, {
      method: 'OPTIONS',
      headers: {
        origin: 'https://evil.example',
        'access-control-request-method': 'DELETE',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    // The login itself is a write: a cross-site form cannot log a browser in either.
    const forged = await api(`${base}/v1/bamboo/access/verify`, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'text/plain' },
      body: JSON.stringify({ password: TOKEN }),
    });
    expect(forged.status).toBe(403);
    expect((await api(`${base}/api/v1/sessions/${id}`, { headers: { ...FROM_UI, cookie } })).status).toBe(200);
  });

  it('throttles wrong passwords like wrong tokens; without a token there is nothing to verify', async () => {
    t = await startTestServer({ server: { token: TOKEN, maxAuthFailures: 2 } });
    const verify = (password: string) =>
      api(`${(t as TestServer).url}/v1/bamboo/access/verify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: { password },
      });
    expect((await verify('guess-1')).status).toBe(401);
    expect((await verify('guess-2')).status).toBe(401);
    const blocked = await verify(TOKEN);
    expect(blocked.status).toBe(429);
    expect(blocked.body).toMatchObject({ code: 'TOO_MANY_AUTH_FAILURES' });
    expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThan(0);
    const change = await api(`${t.url}/v1/bamboo/access/password`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
      body: { new_password: 'x' },
    });
    expect(change.status).toBe(501);
    expect(change.body).toMatchObject({ code: 'NOT_IMPLEMENTED' });
    await t.close();

    t = await startTestServer();
    expect((await verify(TOKEN)).status).toBe(409);
    expect((await api(`${t.url}/v1/bamboo/access/status`)).body).toEqual({
      password_enabled: false,
      local_bypass: true,
      requires_password: false,
    });
  });
});
