import { request } from 'node:http';
import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { parseServeArgs } from '../../src/cli/serve-args.js';
import { api, createRoot, startTestServer, type TestServer } from './support/test-server.js';

const TOKEN = 'test-token-0123456789abcdef';

/** A raw request with a chosen Host header (fetch does not let a caller set Host). */
function rawGet(port: number, path: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('server security', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('with a token, every request needs Authorization: Bearer (401 otherwise)', async () => {
    t = await startTestServer({ server: { token: TOKEN } });
    const denied = await api(`${t.url}/v1/health`);
    expect(denied.status).toBe(401);
    expect(denied.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect(denied.body).toMatchObject({ code: 'UNAUTHORIZED' });
    expect((await api(`${t.url}/v1/health`, { headers: { authorization: 'Bearer wrong-token-xxxxxxxxxxxx' } })).status).toBe(401);
    expect((await api(`${t.url}/api/v1/sessions`)).status).toBe(401);
    expect((await api(`${t.url}/`)).status).toBe(401);
    const auth = { authorization: `Bearer ${TOKEN}` };
    expect((await api(`${t.url}/v1/health`, { headers: auth })).status).toBe(200);
    await createRoot(t.url, 'Root', auth);
    // The dashboard: /?token=T sets an HttpOnly SameSite=Strict cookie its scripts and streams carry.
    const page = await fetch(`${t.url}/?token=${TOKEN}`);
    expect(page.status).toBe(200);
    const cookie = page.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect((await api(`${t.url}/v1/health`, { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
  });

  it('refuses a foreign Host header (DNS rebinding) with 421', async () => {
    t = await startTestServer();
    expect((await rawGet(t.port, '/v1/health', `127.0.0.1:${t.port}`)).status).toBe(200);
    expect((await rawGet(t.port, '/v1/health', `localhost:${t.port}`)).status).toBe(200);
    const evil = await rawGet(t.port, '/v1/health', `evil.example:${t.port}`);
    expect(evil.status).toBe(421);
    expect(JSON.parse(evil.body)).toMatchObject({ code: 'HOST_NOT_ALLOWED' });
    expect((await rawGet(t.port, '/', 'evil.example')).status).toBe(421);
    expect((await rawGet(t.port, '/v1/health', `127.0.0.1:${t.port + 1}`)).status).toBe(421);
  });

  it('sends no CORS headers unless an origin is configured, then only for that origin', async () => {
    t = await startTestServer();
    const plain = await fetch(`${t.url}/v1/health`, { headers: { origin: 'http://evil.example' } });
    expect(plain.headers.get('access-control-allow-origin')).toBeNull();
    await t.close();
    t = await startTestServer({ server: { cors: 'http://localhost:5173' } });
    const allowed = await fetch(`${t.url}/v1/health`, { headers: { origin: 'http://localhost:5173' } });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const other = await fetch(`${t.url}/v1/health`, { headers: { origin: 'http://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).not.toBe('http://evil.example');
    const preflight = await fetch(`${t.url}/v1/sessions`, {
      method: 'OPTIONS',
      headers: { origin: 'http://localhost:5173', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
  });

  it('limits and validates request bodies: 413 too large, 415 not JSON, 400 bad JSON, 422 bad shape', async () => {
    t = await startTestServer({ server: { maxBodyBytes: 1024 } });
    const big = await api(`${t.url}/v1/sessions`, { body: { title: 'x'.repeat(5000) } });
    expect(big.status).toBe(413);
    expect(big.body).toMatchObject({ code: 'BODY_TOO_LARGE' });
    expect((await api(`${t.url}/v1/sessions`, { body: '{"title":"x"}', headers: { 'content-type': 'text/plain' } })).status).toBe(415);
    expect((await api(`${t.url}/v1/sessions`, { body: '{"title":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await api(`${t.url}/v1/sessions`, { body: { title: 5 } })).status).toBe(422);
    expect((await api(`${t.url}/v1/sessions/${'x'.repeat(300)}`)).status).toBe(422);
  });

  it('serve refuses a non-loopback host without a token', () => {
    expect(() => parseServeArgs(['--host', '0.0.0.0'], {})).toThrow(/needs --token/);
    expect(parseServeArgs(['--host', '0.0.0.0'], { SPROUT_TOKEN: TOKEN })).toMatchObject({ host: '0.0.0.0', token: TOKEN });
    expect(parseServeArgs(['--host', '::1', '--port', '0'], {})).toMatchObject({ host: '::1', port: 0, dialect: 'sub_session' });
    expect(() => parseServeArgs(['--dialect', 'nope'], {})).toThrow(/dialect/);
  });
});

describe('server security on a wildcard bind', () => {
  it('accepts this machine’s own addresses as Host when bound to 0.0.0.0 (token required)', async () => {
    const t = await startTestServer({ host: '0.0.0.0', server: { token: TOKEN } });
    try {
      const auth = { authorization: `Bearer ${TOKEN}` };
      const ok = await fetch(`http://127.0.0.1:${t.port}/v1/health`, { headers: auth });
      expect(ok.status).toBe(200);
      const address =
        Object.values(networkInterfaces())
          .flat()
          .find((entry) => entry?.family === 'IPv4')?.address ?? '127.0.0.1';
      expect((await rawGetWith(t.port, '/v1/health', `${address}:${t.port}`, auth)).status).toBe(200);
      expect((await rawGetWith(t.port, '/v1/health', `evil.example:${t.port}`, auth)).status).toBe(421);
    } finally {
      await t.close();
    }
  });
});

function rawGetWith(port: number, path: string, host: string, headers: Record<string, string>): Promise<{ status: number }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { ...headers, host } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}
