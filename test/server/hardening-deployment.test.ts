// Issue 21 item 5: the network mode sent the token in clear text (no TLS option, the dashboard
// cookie lacked `Secure`), and behind a reverse proxy every request got 421 (the port check
// failed; no allowed-hosts or trust-proxy flag).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer } from '../../src/server/listen-sprout-server.js';
import { parseServeArgs } from '../../src/cli/serve-args.js';
import { createRoot, startTestServer, tempDir, testAgent, type TestServer } from './support/test-server.js';

const TOKEN = 'test-token-0123456789abcdef';
const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request over http or https (with `ca` trusted), any headers allowed (Host, X-Forwarded-*). */
function send(
  url: string,
  { method = 'GET', headers = {}, ca }: { method?: string; headers?: Record<string, string>; ca?: Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const request = url.startsWith('https:') ? httpsRequest : httpRequest;
    // The test certificate names localhost (SNI and the identity check would otherwise use Host).
    const tls = ca === undefined ? {} : { ca, servername: 'localhost' };
    const req = request(url, { method, headers, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const cookieOf = (answer: Answer): string => answer.headers['set-cookie']?.[0] ?? '';

/** The openssl CLI, or undefined (then the TLS tests are skipped, saying why). */
function opensslPath(): string | undefined {
  try {
    return execFileSync('which', ['openssl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** A self-signed certificate for localhost and 127.0.0.1, written to a temp directory. */
function selfSignedCert(dir: { file: (name: string) => string }): { certPath: string; keyPath: string; cert: Buffer; key: Buffer } {
  const certPath = dir.file('cert.pem');
  const keyPath = dir.file('key.pem');
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1'],
      ...['-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'],
      ...['-keyout', keyPath, '-out', certPath],
    ],
    { stdio: 'ignore' },
  );
  return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
}

const openssl = opensslPath();

describe.skipIf(openssl === undefined)(
  'TLS (--tls-cert / --tls-key) — skipped when the openssl CLI is missing (it makes the test certificate)',
  () => {
    const cleanups: (() => unknown)[] = [];
    afterEach(async () => {
      for (const step of cleanups.splice(0).reverse()) await step();
    });

    it('listenSproutServer serves HTTPS; the dashboard cookie is Secure; plain HTTP to the port gets nothing', async () => {
      const tmp = tempDir();
      cleanups.push(() => tmp.remove());
      const { cert, key } = selfSignedCert(tmp);
      const store = new MemorySessionStore();
      const scheduler = createSpawnScheduler({ store, agent: testAgent(), clock: systemClock });
      await scheduler.start();
      cleanups.push(() => scheduler.stop({ mode: 'cancel' }));
      const server = createSproutServer({ scheduler, store, token: TOKEN });
      const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 0, tls: { cert, key } });
      cleanups.push(() => listening.close());
      expect(listening.url).toBe(`https://127.0.0.1:${listening.port}`);

      const auth = { authorization: `Bearer ${TOKEN}` };
      const health = await send(`${listening.url}/v1/health`, { headers: auth, ca: cert });
      expect(health.status).toBe(200);
      // Never HSTS for a loopback name (it would pin localhost to https for every port).
      expect(health.headers['strict-transport-security']).toBeUndefined();
      const page = await send(`https://localhost:${listening.port}/?token=${TOKEN}`, { ca: cert });
      expect(page.status).toBe(200);
      expect(cookieOf(page)).toMatch(/^sprout_token=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure$/);
      // A Host without a port means 443 under TLS: not this server.
      expect((await send(`${listening.url}/v1/health`, { headers: { ...auth, host: 'localhost' }, ca: cert })).status).toBe(421);
      await expect(send(`http://127.0.0.1:${listening.port}/v1/health`, { headers: auth })).rejects.toThrow();
    });

    it('sprout serve --tls-cert --tls-key --allowed-host --trust-proxy (process): https URL, the names and the proxy headers apply', async () => {
      const tmp = tempDir();
      cleanups.push(() => tmp.remove());
      const { certPath, keyPath, cert } = selfSignedCert(tmp);
      const args = ['--port', '0', '--db', ':memory:', '--tls-cert', certPath, '--tls-key', keyPath];
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args, '--allowed-host', 'sprout.example.com', '--trust-proxy'],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPROUT_TOKEN: TOKEN } },
      );
      cleanups.push(() => {
        if (child.exitCode === null) child.kill('SIGKILL');
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (part: string) => (stderr += part));
      const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
      const url = await new Promise<string>((resolve, reject) => {
        let stdout = '';
        child.stdout.setEncoding('utf8').on('data', (part: string) => {
          stdout += part;
          const line = /^listening on (\S+)\n/.exec(stdout);
          if (line) resolve(line[1]!);
        });
        void exited.then(() => reject(new Error(`sprout serve exited: ${stderr}`)));
      });
      expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const auth = { authorization: `Bearer ${TOKEN}` };
      expect((await send(`${url}/v1/health`, { ca: cert, headers: auth })).status).toBe(200);
      // As a proxy forwards it: the public name, no port.
      const proxied = await send(`${url}/v1/health`, {
        ca: cert,
        headers: { ...auth, host: 'sprout.example.com', 'x-forwarded-host': 'sprout.example.com' },
      });
      expect(proxied.status).toBe(200);
      expect(proxied.headers['strict-transport-security']).toBe('max-age=15552000');
      expect((await send(`${url}/v1/health`, { ca: cert, headers: { ...auth, host: 'evil.example' } })).status).toBe(421);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    });

    it('sprout serve with an unreadable --tls-key exits 2 with one line, before listening', async () => {
      const tmp = tempDir();
      cleanups.push(() => tmp.remove());
      const { certPath } = selfSignedCert(tmp);
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/cli/main.ts',
          'serve',
          '--port',
          '0',
          '--db',
          ':memory:',
          '--tls-cert',
          certPath,
          '--tls-key',
          tmp.file('none.pem'),
        ],
        { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (part: string) => (output += part));
      child.stderr.setEncoding('utf8').on('data', (part: string) => (output += part));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(2);
      expect(output.trim().split('\n')).toEqual([expect.stringMatching(/^sprout serve: --tls-key .*none\.pem: .*ENOENT/)]);
    });
  },
);

describe('serve flags for deployment', () => {
  it('parses --tls-cert/--tls-key (both or neither), --allowed-host (repeatable, comma lists), --trust-proxy', () => {
    expect(parseServeArgs([], {})).toMatchObject({ tls: undefined, allowedHosts: [], trustProxy: false });
    expect(parseServeArgs(['--tls-cert', 'c.pem', '--tls-key', 'k.pem'], {}).tls).toEqual({ certPath: 'c.pem', keyPath: 'k.pem' });
    expect(() => parseServeArgs(['--tls-cert', 'c.pem'], {})).toThrow(/--tls-cert PATH and --tls-key PATH/);
    const env = { SPROUT_TOKEN: TOKEN };
    const parsed = parseServeArgs(['--allowed-host', 'A.example', '--allowed-host', 'b.example,10.0.0.5', '--trust-proxy'], env);
    expect(parsed).toMatchObject({ allowedHosts: ['a.example', 'b.example', '10.0.0.5'], trustProxy: true });
    expect(() => parseServeArgs(['--allowed-host', 'https://a.example'], env)).toThrow(/--allowed-host/);
    expect(() => parseServeArgs(['--allowed-host', 'a.example:8443'], env)).toThrow(/--allowed-host/);
    // Behind a proxy, or under a public name, a loopback-bound server is on the network: token required.
    expect(() => parseServeArgs(['--trust-proxy'], {})).toThrow(/--trust-proxy serves the network; it needs --token/);
    expect(() => parseServeArgs(['--allowed-host', 'sprout.example.com'], {})).toThrow(
      /--allowed-host sprout\.example\.com .*needs --token/,
    );
    expect(parseServeArgs(['--allowed-host', 'sprout.localhost'], {}).allowedHosts).toEqual(['sprout.localhost']);
  });
});

/**
 * A reverse proxy in the style of Caddy or nginx with `proxy_set_header Host $host`: forwards to
 * the server with the client's `Host`, and sets `X-Forwarded-Host`, `-Proto` (https: it
 * terminates TLS) and appends the peer to `X-Forwarded-For`.
 */
async function reverseProxy(targetPort: number): Promise<{ url: string; close(): Promise<void> }> {
  const proxy: Server = createServer((incoming, outgoing) => {
    const host = incoming.headers.host ?? '';
    const forwardedFor = [incoming.headers['x-forwarded-for'], incoming.socket.remoteAddress].filter(Boolean).join(', ');
    const upstream = httpRequest(
      {
        host: '127.0.0.1',
        port: targetPort,
        path: incoming.url,
        method: incoming.method,
        headers: { ...incoming.headers, host, 'x-forwarded-host': host, 'x-forwarded-proto': 'https', 'x-forwarded-for': forwardedFor },
      },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on('error', () => outgoing.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    close: () =>
      new Promise((resolve) => {
        proxy.close(() => resolve());
        proxy.closeAllConnections();
      }),
  };
}

describe('behind a reverse proxy (--allowed-host, --trust-proxy)', () => {
  let t: TestServer | undefined;
  let proxy: Awaited<ReturnType<typeof reverseProxy>> | undefined;
  afterEach(async () => {
    await proxy?.close();
    await t?.close();
    proxy = undefined;
    t = undefined;
  });
  const publicHost = { host: 'sprout.example.com' };

  it('421 without them (the bug; allowedHosts alone still fails the port check); with them requests pass, the cookie is Secure and HSTS is sent (the proxy terminated TLS), CSRF knows the public origin, forged X-Forwarded-Host is refused', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    for (const server of [{ token: TOKEN }, { token: TOKEN, allowedHosts: ['sprout.example.com'] }]) {
      t = await startTestServer({ server });
      proxy = await reverseProxy(t.port);
      expect((await send(`${proxy.url}/v1/health`, { headers: { ...publicHost, ...auth } })).status).toBe(421);
      await proxy.close();
      await t.close();
    }

    t = await startTestServer({ server: { token: TOKEN, allowedHosts: ['sprout.example.com'], trustProxy: true, maxAuthFailures: 2 } });
    proxy = await reverseProxy(t.port);
    const health = await send(`${proxy.url}/v1/health`, { headers: { ...publicHost, ...auth } });
    expect(health.status).toBe(200);
    expect(health.headers['strict-transport-security']).toBe('max-age=15552000');
    const page = await send(`${proxy.url}/?token=${TOKEN}`, { headers: publicHost });
    expect(page.status).toBe(200);
    expect(cookieOf(page)).toMatch(/; Secure$/);
    // Plain HTTP straight to the server (no X-Forwarded-Proto): no Secure, or a browser would drop it.
    expect(cookieOf(await send(`${t.url}/?token=${TOKEN}`))).toBe(`sprout_token=${TOKEN}; Path=/; HttpOnly; SameSite=Strict`);

    const rootId = await createRoot(t.url, 'Root', auth);
    const cancel = (origin: string) =>
      send(`${proxy!.url}/v1/sessions/${rootId}/cancel`, { method: 'POST', headers: { ...publicHost, ...auth, origin } });
    expect((await cancel('https://sprout.example.com')).status).toBe(200);
    expect((await cancel('http://sprout.example.com')).status).toBe(403);
    expect((await cancel('https://evil.example')).status).toBe(403);

    // Straight to the server, with a forged X-Forwarded-Host: refused like a forged Host.
    const forged = await send(`${t.url}/v1/health`, { headers: { ...auth, 'x-forwarded-host': 'evil.example' } });
    expect(forged.status).toBe(421);

    // The client address is the entry the proxy appended: one the client sent does not count.
    for (const [i, claimed] of ['198.51.100.1', '198.51.100.2'].entries()) {
      const wrong = { authorization: `Bearer wrong-${i}-xxxxxxxxxxxxxxxx`, 'x-forwarded-for': claimed };
      expect((await send(`${proxy.url}/v1/health`, { headers: { ...publicHost, ...wrong } })).status).toBe(401);
    }
    const third = await send(`${proxy.url}/v1/health`, { headers: { ...publicHost, ...auth, 'x-forwarded-for': '198.51.100.3' } });
    expect(third.status).toBe(429);
  });
});
