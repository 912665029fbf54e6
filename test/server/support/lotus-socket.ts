import { WebSocket } from 'ws';

/** A frame lotus-next reads (`{ ch, seq, event | control }`) or a top-level one (`welcome`, `pong`). */
export interface Frame {
  ch?: string;
  seq?: number;
  type?: string;
  event?: { type: string; [field: string]: unknown };
  control?: { type: string; [field: string]: unknown };
}

/**
 * A `/v2/stream` client that behaves like lotus-next's `v2Stream.ts`: no subprotocol, no query,
 * JSON text frames, `hello` first, then its subscribes; it keeps every frame it got.
 */
export class LotusSocket {
  readonly frames: Frame[] = [];
  readonly #waiters = new Set<() => void>();
  #closed = false;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.frames.push(JSON.parse(data.toString('utf8')) as Frame);
      this.#wake();
    });
    ws.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static open(baseUrl: string, headers: Record<string, string> = {}): Promise<LotusSocket> {
    const ws = new WebSocket(`${baseUrl.replace(/^http/, 'ws')}/v2/stream`, { headers });
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new LotusSocket(ws)));
      ws.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
      ws.once('error', reject);
    });
  }

  send(frame: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Frames of one channel. */
  on(ch: string): Frame[] {
    return this.frames.filter((frame) => frame.ch === ch);
  }

  /** Resolves with `pick()`'s first defined value, checked now and on every frame; rejects if the socket closes first. */
  until<T>(pick: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const value = pick();
        if (value !== undefined) {
          this.#waiters.delete(check);
          resolve(value);
        } else if (this.#closed) {
          this.#waiters.delete(check);
          reject(new Error(`socket closed before ${what}; frames: ${JSON.stringify(this.frames)}`));
        }
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** `ping`, then waits for the `pong` answering it (frames are handled in order: a barrier). */
  async roundTrip(): Promise<void> {
    const pongs = this.frames.filter((frame) => frame.type === 'pong').length;
    this.send({ type: 'ping' });
    await this.until(() => (this.frames.filter((frame) => frame.type === 'pong').length > pongs ? true : undefined), 'pong');
  }

  /** Waits for `agent.<sid>`'s terminal control and answers it with `unsubscribe`, as lotus-next does. */
  async terminal(sessionId: string): Promise<Frame> {
    const ch = `agent.${sessionId}`;
    const frame = await this.until(() => this.on(ch).find((f) => f.control?.type === 'terminal'), `terminal of ${ch}`);
    this.send({ type: 'unsubscribe', ch });
    return frame;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const closed = this.until(() => (this.#closed ? true : undefined), 'close').catch(() => true);
    this.ws.close();
    return closed.then(() => undefined);
  }

  #wake(): void {
    for (const waiter of [...this.#waiters]) waiter();
  }
}
