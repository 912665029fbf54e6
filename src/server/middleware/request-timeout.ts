import type { MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { timeout } from 'hono/timeout';
import { HttpProblem, problemResponse } from '../problem.js';
import { isLongLivedRequest } from './is-long-lived-request.js';

/**
 * Hono's `timeout` middleware for every request but the long-lived ones
 * ({@link isLongLivedRequest}: SSE streams and the `/wait` long poll): a handler still busy after
 * `ms` is answered 503 `REQUEST_TIMEOUT` with `Retry-After` (it is not interrupted; its result is
 * dropped).
 *
 * @example
 * app.use(requestTimeout(30_000));
 */
export function requestTimeout(ms: number): MiddlewareHandler {
  const limit = timeout(
    ms,
    () =>
      new HTTPException(503, {
        res: problemResponse(
          new HttpProblem(503, 'REQUEST_TIMEOUT', `the request took longer than ${ms} ms`, { headers: { 'retry-after': '1' } }),
        ),
      }),
  );
  return async (c, next) => (isLongLivedRequest(c) ? next() : limit(c, next));
}
