import type { WebSocket, RawData } from 'ws';
import type { SessionCatalog } from '../session-catalog.js';
import type { SessionStore } from '../../api/ports.js';
import { systemClock } from '../../clock.js';
import { sessionIdSchema } from '../server-context.js';
import type { ServerScheduler } from '../server-options.js';
import { openAgentChannel, type AgentChannel } from './agent-channel.js';
import { openFeedChannel } from './feed-channel.js';
import type { FeedJournal } from './feed-journal.js';
import { AGENT_CHANNEL_PREFIX, clientFrameSchema, FEED_CHANNEL, type ChannelFrame, type ClientFrame } from './v2-frames.js';

/** Bytes queued on a socket beyond which its client counts as stalled and is cut (it can resume). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** Channels one socket may hold; further subscribes are ignored. */
export const MAX_CHANNELS_PER_SOCKET = 256;
/** Keepalive ticks without a pong after which a socket is dropped as dead. */
const MISSED_PONGS = 10;

/** What a {@link V2Connection} needs. */
export interface V2ConnectionDeps {
  scheduler: ServerScheduler;
  store: SessionStore;
  feed: FeedJournal;
  /** Announces the sessions this server deletes: their agent channels end with `reason: 'deleted'`. */
  catalog?: Pick<SessionCatalog, 'deleted$'>;
  /** Period of the keepalive (`sys` frame and protocol ping). */
  keepaliveMs: number;
  /** Called once when the socket closed. */
  onClose: () => void;
}

type Channel = { close(): void; tick?(): void };

/** A text frame's payload as a string (`ws` hands a Buffer, or fragments). */
const textOf = (data: RawData): string =>
  (Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString('utf8');

/**
 * One `/v2/stream` socket: answers `hello` with `{ type: 'welcome' }` and `ping` with `{ type:
 * 'pong' }`, opens and closes channels (`feed`, `agent.<sid>`; a new subscribe to the same
 * channel replaces it), stops runs (`stop`), and every `keepaliveMs` sends a protocol ping and
 * `{ ch: 'sys', seq: 0, control: { type: 'keepalive' } }`. Malformed or unknown frames are
 * ignored. Every channel ends when the socket closes; a socket that stops answering pings or
 * falls {@link MAX_BUFFERED_BYTES} behind is closed.
 *
 * @example
 * wss.handleUpgrade(request, socket, head, (ws) => new V2Connection(ws, deps));
 */
export class V2Connection {
  readonly #ws: WebSocket;
  readonly #deps: V2ConnectionDeps;
  readonly #channels = new Map<string, Channel>();
  #timer: unknown;
  #missed = 0;
  #closed = false;

  constructor(ws: WebSocket, deps: V2ConnectionDeps) {
    this.#ws = ws;
    this.#deps = deps;
    ws.on('message', (data, isBinary) => {
      if (!isBinary) this.#onMessage(data);
    });
    ws.on('pong', () => {
      this.#missed = 0;
    });
    ws.on('close', () => this.#onClose());
    ws.on('error', () => ws.terminate());
    this.#arm();
  }

  /** Closes the socket (code 1001, going away); its channels end. */
  close(): void {
    this.#ws.close(1001, 'server shutting down');
  }

  #send(frame: ChannelFrame | { type: string; message?: string }): void {
    if (this.#closed || this.#ws.readyState !== this.#ws.OPEN) return;
    if (this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.#ws.close(1013, 'client too slow; reconnect and resume');
      return;
    }
    this.#ws.send(JSON.stringify(frame));
  }

  #arm(): void {
    this.#timer = systemClock.setTimeout(() => {
      if (this.#closed) return;
      this.#missed += 1;
      if (this.#missed > MISSED_PONGS) {
        this.#ws.terminate();
        return;
      }
      this.#ws.ping();
      this.#send({ ch: 'sys', seq: 0, control: { type: 'keepalive' } });
      for (const channel of this.#channels.values()) channel.tick?.();
      this.#arm();
    }, this.#deps.keepaliveMs);
  }

  #onMessage(data: RawData): void {
    let json: unknown;
    try {
      json = JSON.parse(textOf(data));
    } catch {
      return;
    }
    const parsed = clientFrameSchema.safeParse(json);
    if (parsed.success) this.#handle(parsed.data);
  }

  #handle(frame: ClientFrame): void {
    switch (frame.type) {
      case 'hello':
        return this.#send({ type: 'welcome' });
      case 'ping':
        return this.#send({ type: 'pong' });
      case 'unsubscribe':
        return this.#drop(frame.ch);
      case 'stop':
        return void this.#stop(frame.session_id);
      case 'subscribe':
        return this.#subscribe(frame.ch, frame.since);
    }
  }

  #drop(ch: string): void {
    this.#channels.get(ch)?.close();
    this.#channels.delete(ch);
  }

  #subscribe(ch: string, since: number | undefined): void {
    const send = (frame: ChannelFrame): void => this.#send(frame);
    if (ch === FEED_CHANNEL) {
      this.#drop(ch);
      this.#channels.set(ch, { close: openFeedChannel(this.#deps.feed, since, send) });
      return;
    }
    if (!ch.startsWith(AGENT_CHANNEL_PREFIX)) return;
    const id = sessionIdSchema.safeParse(ch.slice(AGENT_CHANNEL_PREFIX.length));
    if (!id.success) return;
    this.#drop(ch);
    if (this.#channels.size >= MAX_CHANNELS_PER_SOCKET) return;
    const fail = (error: unknown): void =>
      this.#send({ type: 'error', message: `${ch}: ${error instanceof Error ? error.message : String(error)}` });
    // Set once open returns (the callbacks may run before: then nothing is registered).
    const opened: { channel?: AgentChannel; endedEarly?: boolean } = {};
    opened.channel = openAgentChannel(
      {
        scheduler: this.#deps.scheduler,
        store: this.#deps.store,
        send: (frame) => {
          if (opened.channel !== undefined && this.#channels.get(ch) === opened.channel) send(frame);
        },
        onEnd: () => {
          if (opened.channel === undefined) opened.endedEarly = true;
          else if (this.#channels.get(ch) === opened.channel) this.#channels.delete(ch);
        },
        onError: fail,
        ...(this.#deps.catalog === undefined ? {} : { catalog: this.#deps.catalog }),
      },
      id.data,
      since,
    );
    if (opened.endedEarly !== true) this.#channels.set(ch, opened.channel);
  }

  async #stop(sessionId: string): Promise<void> {
    const id = sessionIdSchema.safeParse(sessionId);
    if (!id.success) return;
    try {
      const session = await this.#deps.store.load(id.data);
      if (!session) return;
      await this.#deps.scheduler.cancel(id.data, 'user');
      if (session.kind === 'root') await this.#deps.scheduler.cancelTree(id.data);
    } catch (error) {
      this.#send({ type: 'error', message: `stop ${id.data}: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  #onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    systemClock.clearTimeout(this.#timer);
    for (const channel of this.#channels.values()) channel.close();
    this.#channels.clear();
    this.#deps.onClose();
  }
}
