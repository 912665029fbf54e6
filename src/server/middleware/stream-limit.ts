import type { ServerResponse } from 'node:http';
import type { MiddlewareHandler } from 'hono';
import { forwardedRequest } from '../forwarded-request.js';
import { HttpProblem, problemResponse } from '../problem.js';
import { isLongLivedRequest } from './is-long-lived-request.js';

/** Options of {@link streamLimit}. */
export interface StreamLimitOptions {
  /** Long-lived requests one client address may hold open. */
  perClient: number;
  /** Long-lived requests open in all. */
  total: number;
  /** Client address from `X-Forwarded-For` (see `trustProxy`). */
  trustProxy: boolean;
}

/**
 * Caps long-lived requests ({@link isLongLivedRequest}: SSE streams and `/wait` long polls): one
 * client beyond `perClient` gets 429 `TOO_MANY_STREAMS`, anyone beyond `total` 503
 * `SERVER_BUSY`, both with `Retry-After`. A slot is taken before the route runs and given back
 * when the response's connection closes (on @hono/node-server; elsewhere, when the handler
 * returns — other runtimes bound their streams themselves).
 *
 * @example
 * app.use(streamLimit({ perClient: 32, total: 10_000, trustProxy: false }));
 */
export function streamLimit({ perClient, total, trustProxy }: StreamLimitOptions): MiddlewareHandler {
  const byClient = new Map<string, number>();
  let open = 0;
  return async (c, next) => {
    if (!isLongLivedRequest(c)) return next();
    const { client } = forwardedRequest(c, trustProxy);
    const mine = byClient.get(client) ?? 0;
    if (mine >= perClient) {
      return problemResponse(
        new HttpProblem(429, 'TOO_MANY_STREAMS', `this client already holds ${mine} open streams (at most ${perClient})`, {
          headers: { 'retry-after': '5' },
        }),
      );
    }
    if (open >= total) {
      return problemResponse(
        new HttpProblem(503, 'SERVER_BUSY', `the server holds ${open} open streams (at most ${total})`, {
          headers: { 'retry-after': '5' },
        }),
      );
    }
    byClient.set(client, mine + 1);
    open += 1;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      open -= 1;
      const left = (byClient.get(client) ?? 1) - 1;
      if (left > 0) byClient.set(client, left);
      else byClient.delete(client);
    };
    const outgoing = (c.env as { outgoing?: ServerResponse } | undefined)?.outgoing;
    if (outgoing !== undefined && typeof outgoing.once === 'function') {
      if (outgoing.closed) release();
      else outgoing.once('close', release);
      await next();
    } else {
      try {
        await next();
      } finally {
        release();
      }
    }
  };
}
