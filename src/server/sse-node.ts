import type { ServerResponse } from 'node:http';
import type { Context } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { RESPONSE_ALREADY_SENT } from '@hono/node-server/utils/response';
import { systemClock } from '../clock.js';
import { SECURITY_HEADERS } from './middleware/security-headers.js';
import { sseResponse, SSE_HEADERS, type SseResponseOptions } from './sse-stream.js';

/** Bytes buffered for one slow client beyond which it is cut (it can resume from its last id). */
export const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;

/**
 * Streams SSE straight to node's `ServerResponse` when the app runs on @hono/node-server (one
 * `write` of the shared frame bytes per client and event, as a bare node:http server does), and
 * falls back to a web-standard streaming {@link sseResponse} anywhere else, and when `direct` is
 * false: middleware that already set response headers (CORS) needs Hono to send the response.
 * A `HEAD` request gets the stream's headers and no body (nothing is subscribed).
 *
 * @example
 * app.get('/events', (c) => streamSse(c, { source, frame, comment: 'ping', pingMs: 15_000, streams }, { direct: !corsEnabled }));
 */
export function streamSse<T>(c: Context, options: SseResponseOptions<T>, { direct = true }: { direct?: boolean } = {}): Response {
  // Hono answers HEAD with the GET route: without this, the stream would be written (and Hono's
  // own HEAD response then fail with ERR_HTTP_HEADERS_SENT, a stack trace per request).
  if (c.req.method === 'HEAD') return new Response(null, { status: 200, headers: { ...SSE_HEADERS, ...options.headers } });
  const outgoing = (c.env as Partial<HttpBindings> | undefined)?.outgoing;
  if (!direct || outgoing === undefined || typeof outgoing.writeHead !== 'function') return sseResponse(options);
  // Never touch `c.res` here: once it exists, Hono re-wraps the returned response and the
  // adapter would try to send it again.
  writeSse(outgoing, options);
  return RESPONSE_ALREADY_SENT;
}

function writeSse<T>(response: ServerResponse, options: SseResponseOptions<T>): void {
  let ended = false;
  let timer: unknown;
  // Set once subscribed; `end` may run before that (a drain already under way).
  const live: { subscription?: { unsubscribe(): void } } = {};
  const ping = Buffer.from(`: ${options.comment}\n\n`);
  // Written straight to the socket, so no middleware adds these: the same as every other answer.
  response.writeHead(200, { ...SECURITY_HEADERS, ...SSE_HEADERS, ...options.headers });
  if (options.preamble !== undefined) response.write(options.preamble);
  else response.flushHeaders();
  const end = (): void => {
    if (ended) return;
    ended = true;
    live.subscription?.unsubscribe();
    if (timer !== undefined) systemClock.clearTimeout(timer);
    unregister();
    response.end();
  };
  response.on('close', end);
  const unregister = options.streams.add(end);
  if (options.streams.closed) return end();
  const arm = (): void => {
    timer = systemClock.setTimeout(() => {
      if (ended) return;
      response.write(ping);
      arm();
    }, options.pingMs);
  };
  arm();
  const subscription = options.source.subscribe({
    next: (item) => {
      if (ended) return;
      const bytes = options.frame(item);
      if (bytes === undefined) return;
      response.write(bytes);
      if (response.writableLength > MAX_BUFFERED_BYTES) end();
    },
    error: () => end(),
    complete: () => end(),
  });
  live.subscription = subscription;
  if (ended) subscription.unsubscribe();
}
