import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { systemClock } from '../clock.js';
import { bridgePage } from './bridge-page.js';
import { CliUsageError, oneLine } from './cli-error.js';

/** The only interface the relay listens on. */
export const RELAY_HOST = '127.0.0.1';

/** Options of {@link startInspectorRelay}. */
export interface InspectorRelayOptions {
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  /** Non-registration events kept for viewers that connect late (actor registrations are always kept). @default 5000 */
  bufferLimit?: number;
}

/** A running inspector relay. */
export interface InspectorRelay {
  /** Where it listens: always 127.0.0.1. */
  readonly address: AddressInfo;
  /** The page to open in a browser (it embeds the Stately inspector from stately.ai). */
  readonly pageUrl: string;
  /** The WebSocket address viewers (`createWebSocketReceiver`) connect to. */
  readonly wsUrl: string;
  /** The WebSocket address this process's `createWebSocketInspector` sends to. */
  readonly sourceUrl: string;
  /** Inspection events received from `?role=source` connections. */
  readonly received: number;
  /** Viewers connected now. */
  readonly viewers: number;
  /** Records an event and sends it to the viewers, as if a source had sent it (trace replay). */
  publish(message: string): void;
  /** Resolves once a `?role=source` inspector is connected; rejects after `timeoutMs`. */
  waitForSource(timeoutMs: number): Promise<void>;
  /** Resolves true once `count` source events arrived, false after `timeoutMs`. */
  waitForReceived(count: number, timeoutMs: number): Promise<boolean>;
  /** Closes every connection (viewers get their pending events first) and stops listening. */
  close(): Promise<void>;
}

interface Entry {
  seq: number;
  text: string;
}

const isLoopbackAddress = (address: string | undefined): boolean =>
  address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));

/** The `type` of an inspection event message (`@xstate.…`), or undefined for anything else. */
const inspectionTypeOf = (text: string): string | undefined => {
  try {
    const value = JSON.parse(text) as { type?: unknown } | null;
    const type = typeof value === 'object' && value !== null ? value.type : undefined;
    return typeof type === 'string' && type.startsWith('@xstate.') ? type : undefined;
  } catch {
    return undefined;
  }
};

const isSourceRequest = (request: IncomingMessage): boolean =>
  new URL(request.url ?? '/', 'http://relay').searchParams.get('role') === 'source';

/**
 * A loopback-only relay between `@statelyai/inspect`'s `createWebSocketInspector` (the sender,
 * in this process or another) and viewers: the bridge page it serves at `/` (which embeds the
 * Stately inspector from stately.ai) or any `createWebSocketReceiver`. It speaks the protocol of
 * `@statelyai/inspect/server` — every message from one client goes to the others, and late
 * viewers get a replay — but, unlike that server, it binds 127.0.0.1 only, refuses non-loopback
 * peers, foreign `Host` headers (DNS rebinding) and browser pages of other origins, and always
 * replays every actor registration (`@xstate.actor`), not just the last 200 messages.
 *
 * @example
 * const relay = await startInspectorRelay({ port: 0 });
 * const inspector = createWebSocketInspector({ url: relay.sourceUrl });
 * await relay.waitForSource(5000);
 * console.log(`open ${relay.pageUrl}`);
 */
export async function startInspectorRelay(options: InspectorRelayOptions): Promise<InspectorRelay> {
  const bufferLimit = options.bufferLimit ?? 5000;
  const actors: Entry[] = [];
  const others: Entry[] = [];
  const sources = new Set<WebSocket>();
  const waiting = new Set<() => void>();
  let seq = 0;
  let received = 0;
  let port = options.port;

  const allowedHosts = (): Set<string> => new Set([`${RELAY_HOST}:${port}`, `localhost:${port}`]);
  const allowedOrigins = (): Set<string> => new Set([...allowedHosts()].map((host) => `http://${host}`));

  const http = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (!isLoopbackAddress(request.socket.remoteAddress) || !allowedHosts().has(request.headers.host ?? '')) {
      response.writeHead(403, { 'Content-Type': 'text/plain' }).end('forbidden: the sprout inspector relay only serves http://127.0.0.1\n');
      return;
    }
    if (request.method !== 'GET' || new URL(request.url ?? '/', 'http://relay').pathname !== '/') {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
      return;
    }
    response
      .writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' })
      .end(bridgePage());
  });

  const wss = new WebSocketServer({
    server: http,
    maxPayload: 16 * 1024 * 1024,
    verifyClient: (
      { req, origin }: { req: IncomingMessage; origin: string | undefined },
      done: (ok: boolean, code?: number, message?: string) => void,
    ) => {
      if (!isLoopbackAddress(req.socket.remoteAddress)) return done(false, 403, 'loopback only');
      if (!allowedHosts().has(req.headers.host ?? '')) return done(false, 403, 'unexpected Host header');
      if (origin !== undefined && origin !== '' && !allowedOrigins().has(origin)) return done(false, 403, 'foreign origin');
      done(true);
    },
  });

  // ws re-emits the HTTP server's `error` (EADDRINUSE, EACCES) on the WebSocketServer: without a
  // listener that is an uncaught exception (a raw message, exit 1). The listen promise below turns
  // it into a one-line usage error (exit 2); this listener only keeps it from crashing the process.
  wss.on('error', () => undefined);

  const viewers = (): WebSocket[] => [...wss.clients].filter((client) => !sources.has(client) && client.readyState === WebSocket.OPEN);

  const record = (text: string, type: string): void => {
    const entry = { seq: ++seq, text };
    if (type === '@xstate.actor') actors.push(entry);
    else {
      others.push(entry);
      if (others.length > bufferLimit) others.shift();
    }
  };

  const replay = (): string[] => {
    const merged: string[] = [];
    let a = 0;
    let o = 0;
    while (a < actors.length || o < others.length) {
      const actor = actors[a];
      const other = others[o];
      if (other === undefined || (actor !== undefined && actor.seq < other.seq)) {
        merged.push((actor as Entry).text);
        a += 1;
      } else {
        merged.push(other.text);
        o += 1;
      }
    }
    return merged;
  };

  const broadcast = (text: string, from?: WebSocket): void => {
    for (const viewer of viewers()) if (viewer !== from) viewer.send(text);
  };

  wss.on('connection', (socket, request) => {
    socket.on('error', () => socket.terminate());
    const isSource = isSourceRequest(request);
    if (isSource) sources.add(socket);
    else for (const text of replay()) socket.send(text);
    socket.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = Buffer.isBuffer(data)
        ? data.toString('utf8')
        : Array.isArray(data)
          ? Buffer.concat(data).toString('utf8')
          : Buffer.from(data).toString('utf8');
      const type = inspectionTypeOf(text);
      if (type === undefined) return;
      if (isSource) received += 1;
      record(text, type);
      broadcast(text, socket);
      for (const wake of [...waiting]) wake();
    });
    socket.on('close', () => sources.delete(socket));
    for (const wake of [...waiting]) wake();
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(
          new CliUsageError(`inspector port ${port} on ${RELAY_HOST} is in use; pick another with --inspect=PORT (0 picks a free one)`),
        );
      else if (error.code === 'EACCES')
        reject(new CliUsageError(`not allowed to listen on ${RELAY_HOST}:${port}; pick a port above 1023 with --inspect=PORT`));
      else reject(new CliUsageError(`cannot start the inspector relay on ${RELAY_HOST}:${port}: ${oneLine(error)}`, { cause: error }));
    });
    http.listen(options.port, RELAY_HOST, () => resolve());
  });
  const address = http.address() as AddressInfo;
  port = address.port;

  const until = (condition: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (condition()) return resolve(true);
      const wake = (): void => {
        if (!condition()) return;
        waiting.delete(wake);
        systemClock.clearTimeout(timer);
        resolve(true);
      };
      const timer: unknown = systemClock.setTimeout(() => {
        waiting.delete(wake);
        resolve(false);
      }, timeoutMs);
      waiting.add(wake);
    });

  return {
    address,
    pageUrl: `http://${RELAY_HOST}:${port}/`,
    wsUrl: `ws://${RELAY_HOST}:${port}/`,
    sourceUrl: `ws://${RELAY_HOST}:${port}/?role=source`,
    get received() {
      return received;
    },
    get viewers() {
      return viewers().length;
    },
    publish(text) {
      const type = inspectionTypeOf(text);
      if (type === undefined) return;
      record(text, type);
      broadcast(text);
    },
    async waitForSource(timeoutMs) {
      if (!(await until(() => sources.size > 0, timeoutMs)))
        throw new Error(`the inspector did not connect to ${RELAY_HOST}:${port} within ${timeoutMs} ms`);
    },
    waitForReceived: (count, timeoutMs) => until(() => received >= count, timeoutMs),
    async close() {
      const clients = [...wss.clients];
      const closed = Promise.all(
        clients.map(
          (client) =>
            new Promise<void>((resolve) => (client.readyState === WebSocket.CLOSED ? resolve() : client.once('close', () => resolve()))),
        ),
      );
      for (const client of clients) client.close(1001, 'sprout relay closing');
      await Promise.race([
        closed,
        new Promise<void>((resolve) => {
          systemClock.setTimeout(resolve, 1000);
        }),
      ]);
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    },
  };
}
