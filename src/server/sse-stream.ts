import type { Observable, Subscription } from 'rxjs';
import { systemClock } from '../clock.js';

/** Frames still queued for a client beyond which it counts as stalled and is cut (it can resume). */
export const MAX_QUEUED_FRAMES = 20_000;

const encoder = new TextEncoder();

/** Response headers of every SSE stream. */
export const SSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache, no-transform',
  'x-accel-buffering': 'no',
};

/** Open SSE streams of one server, so a drain can end them all after their last events. */
export class SseStreams {
  readonly #open = new Set<() => void>();
  #closed = false;

  /** True once {@link closeAll} ran: new streams end at once. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Number of open streams. */
  get size(): number {
    return this.#open.size;
  }

  /** Registers a stream's closer; returns its unregister function. */
  add(close: () => void): () => void {
    this.#open.add(close);
    return () => this.#open.delete(close);
  }

  /** Ends every open stream (queued frames are still delivered) and refuses new ones. */
  closeAll(): void {
    this.#closed = true;
    for (const close of [...this.#open]) close();
  }
}

/** What {@link sseResponse} streams. */
export interface SseResponseOptions<T> {
  /** The items to send; subscribed when the response body starts. */
  source: Observable<T>;
  /** One item as SSE bytes, or `undefined` to skip it. */
  frame: (item: T) => Uint8Array | undefined;
  /** Sent first (e.g. `retry: 3000\n\n`). */
  preamble?: string;
  /** Comment sent while idle (`ping` → `: ping\n\n`) every `pingMs`. */
  comment: string;
  pingMs: number;
  streams: SseStreams;
  /** Extra response headers. */
  headers?: Record<string, string>;
}

/**
 * A `text/event-stream` response fed by an Observable. The subscription starts when the body is
 * first pulled and ends when the client goes away, the source completes, the server drains
 * ({@link SseStreams.closeAll}) or the client falls {@link MAX_QUEUED_FRAMES} frames behind (it
 * can resume from its last id). A comment goes out every `pingMs` so proxies keep it open.
 *
 * @example
 * return sseResponse({ source: scheduler.events(id, { afterSeq }), frame, comment: 'ping', pingMs: 15_000, streams });
 */
export function sseResponse<T>(options: SseResponseOptions<T>): Response {
  let subscription: Subscription | undefined;
  let timer: unknown;
  let unregister: (() => void) | undefined;
  let ended = false;
  const ping = encoder.encode(`: ${options.comment}\n\n`);
  const stop = (): void => {
    if (ended) return;
    ended = true;
    subscription?.unsubscribe();
    if (timer !== undefined) systemClock.clearTimeout(timer);
    unregister?.();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        const end = (): void => {
          if (ended) return;
          stop();
          try {
            controller.close();
          } catch {
            // Already closed by a cancel: nothing left to end.
          }
        };
        if (options.preamble !== undefined) controller.enqueue(encoder.encode(options.preamble));
        if (options.streams.closed) return end();
        unregister = options.streams.add(end);
        const arm = (): void => {
          timer = systemClock.setTimeout(() => {
            if (ended) return;
            controller.enqueue(ping);
            arm();
          }, options.pingMs);
        };
        arm();
        subscription = options.source.subscribe({
          next: (item) => {
            if (ended) return;
            const bytes = options.frame(item);
            if (bytes === undefined) return;
            controller.enqueue(bytes);
            if ((controller.desiredSize ?? 0) < -MAX_QUEUED_FRAMES) end();
          },
          error: () => end(),
          complete: () => end(),
        });
        if (ended) subscription.unsubscribe();
      },
      cancel() {
        stop();
      },
    },
    new CountQueuingStrategy({ highWaterMark: 64 }),
  );
  return new Response(body, {
    status: 200,
    headers: { ...SSE_HEADERS, ...options.headers },
  });
}

/** Encodes text once (frames are shared between clients); a node Buffer, which both node:http and web streams take as is. */
export function encodeFrame(text: string): Uint8Array {
  return Buffer.from(text);
}
