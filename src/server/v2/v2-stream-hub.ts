import type { WebSocket } from 'ws';
import type { SessionCatalog } from '../session-catalog.js';
import type { SessionStore } from '../../api/ports.js';
import { HttpProblem } from '../problem.js';
import type { ServerScheduler } from '../server-options.js';
import type { FeedJournal } from './feed-journal.js';
import { V2Connection } from './v2-connection.js';

/** Options of {@link V2StreamHub}. */
export interface V2StreamHubOptions {
  scheduler: ServerScheduler;
  store: SessionStore;
  /** Announces the sessions this server deletes (see `SessionCatalog.markDeleted`). */
  catalog?: Pick<SessionCatalog, 'deleted$'>;
  feed: FeedJournal;
  /** Period of the `sys` keepalive frames and protocol pings. */
  keepaliveMs: number;
  /** Sockets one client address may hold open. */
  maxPerClient: number;
  /** Sockets open in all. */
  maxTotal: number;
}

/**
 * The `/v2/stream` sockets of one server: admits them within the caps, runs one
 * {@link V2Connection} per socket, and closes them all on a drain.
 *
 * @example
 * const hub = new V2StreamHub({ scheduler, store, feed, keepaliveMs: 2000, maxPerClient: 32, maxTotal: 10_000 });
 * const refused = hub.refusal(client); // an HttpProblem to answer the upgrade with, or undefined
 * wss.handleUpgrade(request, socket, head, (ws) => hub.accept(ws, client));
 */
export class V2StreamHub {
  readonly #options: V2StreamHubOptions;
  readonly #open = new Set<V2Connection>();
  readonly #byClient = new Map<string, number>();
  #closed = false;
  readonly #emptyWaiters: (() => void)[] = [];

  constructor(options: V2StreamHubOptions) {
    this.#options = options;
  }

  /** Number of open sockets. */
  get size(): number {
    return this.#open.size;
  }

  /** Why a new socket from `client` is refused (429 per client, 503 in all or while draining), or `undefined`. */
  refusal(client: string): HttpProblem | undefined {
    const retry = { headers: { 'retry-after': '5' } };
    if (this.#closed) return new HttpProblem(503, 'SERVER_CLOSING', 'the server is shutting down', retry);
    const mine = this.#byClient.get(client) ?? 0;
    if (mine >= this.#options.maxPerClient)
      return new HttpProblem(
        429,
        'TOO_MANY_STREAMS',
        `this client already holds ${mine} open streams (at most ${this.#options.maxPerClient})`,
        retry,
      );
    if (this.#open.size >= this.#options.maxTotal)
      return new HttpProblem(
        503,
        'SERVER_BUSY',
        `the server holds ${this.#open.size} open streams (at most ${this.#options.maxTotal})`,
        retry,
      );
    return undefined;
  }

  /** Runs the protocol on an upgraded socket of `client` (closed at once while draining). */
  accept(ws: WebSocket, client: string): void {
    if (this.#closed) {
      ws.close(1001, 'server shutting down');
      return;
    }
    this.#byClient.set(client, (this.#byClient.get(client) ?? 0) + 1);
    const connection = new V2Connection(ws, {
      scheduler: this.#options.scheduler,
      store: this.#options.store,
      feed: this.#options.feed,
      ...(this.#options.catalog === undefined ? {} : { catalog: this.#options.catalog }),
      keepaliveMs: this.#options.keepaliveMs,
      onClose: () => {
        this.#open.delete(connection);
        if (this.#open.size === 0) for (const resolve of this.#emptyWaiters.splice(0)) resolve();
        const left = (this.#byClient.get(client) ?? 1) - 1;
        if (left > 0) this.#byClient.set(client, left);
        else this.#byClient.delete(client);
      },
    });
    this.#open.add(connection);
  }

  /** Closes every socket (code 1001) and refuses new ones. */
  closeAll(): void {
    this.#closed = true;
    for (const connection of [...this.#open]) connection.close();
  }

  /** Resolves once no socket is open (after {@link closeAll}: once every closing handshake ended). */
  whenEmpty(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#emptyWaiters.push(resolve));
  }
}
