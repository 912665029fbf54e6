import type { Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { createAdaptorServer } from '@hono/node-server';
import type { SproutServer } from './create-sprout-server.js';
import { upgradeV2Stream } from './v2/upgrade-v2-stream.js';

/** A certificate and its private key, PEM (file contents, not paths). */
export interface TlsCredentials {
  cert: string | Buffer;
  key: string | Buffer;
}

/** Options of {@link listenSproutServer}. */
export interface ListenOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port; 0 picks a free one. @default 7433 */
  port?: number;
  /** Serve HTTPS (node:https) with this certificate instead of plain HTTP. @default none */
  tls?: TlsCredentials;
}

/** A {@link SproutServer} listening on a socket. */
export interface ListeningSproutServer {
  /** `http://HOST:PORT`, or `https://…` with `tls` (IPv6 hosts in brackets). */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The node:http server (a node:https one with `tls`). */
  readonly server: Server;
  /**
   * Stops accepting connections, ends every SSE stream after the events already queued for it,
   * closes every `/v2/stream` socket, and resolves once every connection is closed.
   */
  close(): Promise<void>;
}

/**
 * Serves a {@link SproutServer} on `host:port` with `@hono/node-server` (`port: 0` picks a free
 * port), over HTTPS when `tls` is given (then the dashboard cookie is `Secure`). The `Host` check
 * then accepts this host (for `0.0.0.0` / `::`, every address of this machine and its host name;
 * more with the `allowedHosts` option) and the actual port. WebSocket upgrades to `/v2/stream`
 * (lotus-next) pass the same checks, then run on `ws`; `close()` closes those sockets too.
 *
 * @example
 * const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 0 });
 * await fetch(`${listening.url}/v1/health`);
 * await listening.close();
 * // HTTPS: listenSproutServer(server, { host: '0.0.0.0', port: 443, tls: { cert: readFileSync('cert.pem'), key: readFileSync('key.pem') } });
 */
export async function listenSproutServer(
  server: SproutServer,
  { host = '127.0.0.1', port = 7433, tls }: ListenOptions = {},
): Promise<ListeningSproutServer> {
  const http = (
    tls === undefined
      ? createAdaptorServer({ fetch: server.fetch })
      : createAdaptorServer({ fetch: server.fetch, createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } })
  ) as Server;
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    http.once('error', onError);
    http.listen(port, host, () => {
      http.off('error', onError);
      resolve();
    });
  });
  const address = http.address() as AddressInfo;
  server.hostPolicy.port = address.port;
  const hostName = host.includes(':') ? `[${host}]` : host;
  server.hostPolicy.names.add(hostName.toLowerCase());
  // A wildcard bind is reached through any of this machine's addresses (or its name).
  if (host === '0.0.0.0' || host === '::') {
    server.hostPolicy.names.add(hostname().toLowerCase());
    for (const addresses of Object.values(networkInterfaces())) {
      for (const { address, family } of addresses ?? [])
        server.hostPolicy.names.add(family === 'IPv6' ? `[${address.toLowerCase()}]` : address);
    }
  }
  // lotus-next's WebSocket: the handshake passes the same checks as any request, then `ws` takes the socket.
  http.on('upgrade', upgradeV2Stream(server));
  let closing: Promise<void> | undefined;
  // Once closing, a keep-alive socket is closed as soon as its last response is done.
  http.on('request', (_request, response) => {
    response.on('close', () => {
      if (closing !== undefined) process.nextTick(() => http.closeIdleConnections());
    });
  });
  // The retention policy runs while the server listens: a pass now, then one per interval.
  server.retention?.start();
  return {
    url: `${tls === undefined ? 'http' : 'https'}://${hostName}:${address.port}`,
    host,
    port: address.port,
    server: http,
    close() {
      closing ??= Promise.all([
        server.retention?.stop(),
        new Promise<void>((resolve) => {
          http.close(() => resolve());
          server.closeStreams();
          http.closeIdleConnections();
        }),
        // Upgraded sockets are no longer the HTTP server's: wait for their closing handshakes too.
        server.v2Stream.whenEmpty(),
      ]).then(() => undefined);
      return closing;
    },
  };
}
