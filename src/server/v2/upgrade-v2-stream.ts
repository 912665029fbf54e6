import { STATUS_CODES, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';
import type { V2StreamHub } from './v2-stream-hub.js';
import { V2_UPGRADE_CHECK, type V2UpgradeCheck } from './v2-stream-route.js';

/** Largest client frame accepted on `/v2/stream` (lotus-next sends a few dozen bytes). */
export const MAX_CLIENT_FRAME_BYTES = 64 * 1024;

/** What {@link upgradeV2Stream} needs of a Sprout server. */
export interface V2UpgradeTarget {
  readonly fetch: (request: Request, env?: unknown) => Response | Promise<Response>;
  readonly v2Stream: V2StreamHub;
}

/** Response headers an upgrade refusal does not repeat (they describe another connection). */
const SKIPPED = new Set(['connection', 'content-length', 'keep-alive', 'transfer-encoding', 'upgrade']);

/** Writes `response` as a raw HTTP/1.1 answer on an upgrade's socket and closes it. */
async function refuse(socket: Duplex, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  const lines = [
    `HTTP/1.1 ${response.status} ${STATUS_CODES[response.status] ?? ''}`,
    'connection: close',
    `content-length: ${body.length}`,
  ];
  response.headers.forEach((value, key) => {
    if (!SKIPPED.has(key)) lines.push(`${key}: ${value.replace(/[\r\n]/g, ' ')}`);
  });
  if (!socket.destroyed) socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
}

/** The upgrade request as a web `Request` to the app (same URL and headers as the handshake). */
function toRequest(incoming: IncomingMessage): Request {
  const secure = (incoming.socket as Partial<TLSSocket>).encrypted === true;
  const url = new URL(incoming.url ?? '/', `${secure ? 'https' : 'http'}://${incoming.headers.host ?? 'localhost'}`);
  const headers = new Headers();
  for (const [key, value] of Object.entries(incoming.headers)) {
    if (value === undefined) continue;
    headers.append(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return new Request(url, { method: 'GET', headers });
}

/**
 * The node server's `upgrade` listener for `/v2/stream`: runs the handshake request through the
 * app (`server.fetch`, so the `Host` check, the token or cookie, the throttles and the route's
 * Origin and cap checks all apply) and upgrades it (`ws`, `noServer`) only when the route
 * admitted it; otherwise the app's answer (421, 401, 403, 429, …) is written to the socket
 * before it is closed. An upgrade to any other path gets 404.
 *
 * @example
 * http.on('upgrade', upgradeV2Stream(server));
 */
export function upgradeV2Stream(server: V2UpgradeTarget): (incoming: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_CLIENT_FRAME_BYTES });
  return (incoming, socket, head) => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      let request: Request;
      try {
        request = toRequest(incoming);
      } catch {
        return refuse(socket, new Response('bad upgrade request', { status: 400 }));
      }
      if (new URL(request.url).pathname !== '/v2/stream' || (incoming.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        return refuse(socket, new Response('no WebSocket here', { status: 404 }));
      }
      const check: V2UpgradeCheck = { accepted: false, client: 'unknown' };
      let response: Response;
      try {
        response = await server.fetch(request, { incoming, outgoing: undefined, [V2_UPGRADE_CHECK]: check });
      } catch {
        response = new Response('upgrade check failed', { status: 500 });
      }
      if (!check.accepted) return refuse(socket, response);
      if (socket.destroyed) return;
      wss.handleUpgrade(incoming, socket, head, (ws) => server.v2Stream.accept(ws, check.client));
    })().catch(() => socket.destroy());
  };
}
