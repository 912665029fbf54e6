import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { api, startTestServer, type TestServer } from './support/test-server.js';

/** What a raw WebSocket handshake got back: the status line's code, the headers and the body. */
interface Handshake {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * Sends a WebSocket handshake by hand (so `Host`, `Origin` and the rest are exactly what a test
 * says) and reads the answer up to the end of its headers (101) or until the server closes (a
 * refusal).
 */
function handshake(port: number, headers: Record<string, string>, path = '/v2/stream'): Promise<Handshake> {
  const lines = [
    `GET ${path} HTTP/1.1`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    'Sec-WebSocket-Version: 13',
    ...Object.entries({ host: `127.0.0.1:${port}`, ...headers }).map(([key, value]) => `${key}: ${value}`),
  ];
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let raw = '';
    const parse = (): Handshake => {
      const [head = '', body = ''] = raw.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const parsed: Record<string, string> = {};
      for (const line of headerLines) {
        const colon = line.indexOf(':');
        parsed[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      return { status: Number(statusLine.split(' ')[1]), headers: parsed, body };
    };
    socket.on('data', (chunk) => {
      raw += chunk.toString('utf8');
      if (raw.startsWith('HTTP/1.1 101') && raw.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(parse());
      }
    });
    socket.on('close', () => resolve(parse()));
    socket.on('error', reject);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}

describe('/v2/stream upgrade security', () => {
  let t: TestServer | undefined;
  afterEach(async () => {
    await t?.close();
    t = undefined;
  });

  it('upgrades a loopback handshake that carries no Origin', async () => {
    t = await startTestServer();
    expect((await handshake(t.port, {})).status).toBe(101);
  });

  it('refuses a foreign Host (DNS rebinding) with 421 before upgrading', async () => {
    t = await startTestServer();
    const answer = await handshake(t.port, { host: `evil.example:${t.port}` });
    expect(answer.status).toBe(421);
    expect(JSON.parse(answer.body)).toMatchObject({ code: 'HOST_NOT_ALLOWED' });
    expect(t.server.v2Stream.size).toBe(0);
  });

  it('refuses a page on another site (its Origin) with 403, and admits its own origin and the cors one', async () => {
    t = await startTestServer({ server: { cors: 'http://localhost:5173' } });
    const foreign = await handshake(t.port, { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({ code: 'CSRF_REJECTED' });
    expect((await handshake(t.port, { origin: 'null' })).status).toBe(403);
    expect((await handshake(t.port, { origin: `http://127.0.0.1:${t.port}` })).status).toBe(101);
    expect((await handshake(t.port, { origin: 'http://localhost:5173' })).status).toBe(101);
  });

  it('with a token: refuses an upgrade without it (401), admits the bearer header and the dashboard cookie', async () => {
    const token = 'a-long-enough-test-token-value';
    t = await startTestServer({ server: { token } });
    const refused = await handshake(t.port, {});
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await handshake(t.port, { authorization: 'Bearer wrong-token-of-enough-length' })).status).toBe(401);
    expect((await handshake(t.port, { authorization: `Bearer ${token}` })).status).toBe(101);
    expect((await handshake(t.port, { cookie: `sprout_token=${encodeURIComponent(token)}` })).status).toBe(101);
  });

  it('answers a plain GET with 426 and an upgrade elsewhere with 404', async () => {
    t = await startTestServer();
    const plain = await api(`${t.url}/v2/stream`);
    expect(plain.status).toBe(426);
    expect(plain.body).toMatchObject({ code: 'UPGRADE_REQUIRED' });
    expect((await handshake(t.port, {}, '/v1/health')).status).toBe(404);
  });

  it('caps sockets per client (429) and closes a socket cleanly', async () => {
    t = await startTestServer({ server: { maxStreamsPerClient: 1 } });
    const ws = new WebSocket(`${t.url.replace(/^http/, 'ws')}/v2/stream`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const refused = await handshake(t.port, {});
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('5');
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close();
    await closed;
    await t.server.v2Stream.whenEmpty();
    expect((await handshake(t.port, {})).status).toBe(101);
  });
});
