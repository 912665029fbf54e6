import type { Context } from 'hono';

const STREAM_PATHS = [/^\/api\/v1\/events\/[^/]+\/?$/, /^\/v1\/runs\/stream\/?$/];
const EVENTS_PATH = /^\/v1\/sessions\/[^/]+\/events\/?$/;
const WAIT_PATH = /^\/v1\/sessions\/[^/]+\/wait\/?$/;

/**
 * True for a request that holds its connection open by design: an SSE stream (`GET
 * /v1/sessions/{id}/events` with `Accept: text/event-stream`, `GET /api/v1/events/{id}`, `GET
 * /v1/runs/stream`) or the `GET /v1/sessions/{id}/wait` long poll. These are exempt from the
 * request timeout and count against the stream caps instead.
 *
 * @example
 * if (isLongLivedRequest(c)) return next();
 */
export function isLongLivedRequest(c: Context): boolean {
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return false;
  const path = c.req.path;
  if (STREAM_PATHS.some((pattern) => pattern.test(path)) || WAIT_PATH.test(path)) return true;
  return EVENTS_PATH.test(path) && (c.req.header('accept') ?? '').toLowerCase().includes('text/event-stream');
}
