import { QueueFullError, QueueUnavailableError } from '../distributed/errors.js';
import {
  SchedulerStoppedError,
  SessionBusyError,
  SessionNotFoundError,
  SpawnDepthExceededError,
  SproutError,
  SproutValidationError,
  StoreUnavailableError,
  UnknownChildError,
} from '../errors.js';
import { HttpProblem } from './problem.js';

/** Seconds a client should wait before retrying when a service is away. */
const OUTAGE_RETRY_AFTER = '5';

/** SQLSTATE classes of a server that is away or refusing work: connection (08), resources (53), operator (57), system (58). */
const OUTAGE_SQLSTATE = /^(08|53|57|58)/;

/**
 * True when a `StoreUnavailableError` means the database is away (retry later), false when the
 * database answered and refused the statement (a data fault: retrying does not help).
 */
function isStoreOutage(error: StoreUnavailableError): boolean {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  // A PostgreSQL error carries a five-character SQLSTATE; socket errors (ECONNREFUSED…) and "closed" carry none of those.
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) return OUTAGE_SQLSTATE.test(code);
  return true;
}

/**
 * Maps an error thrown by the scheduler or a handler to the {@link HttpProblem} the API answers
 * with: 404 for unknown sessions, 422 for invalid input and depth, 409 for a message to a session
 * that is already running, 429 when the (distributed) queue is full, 503 once the scheduler
 * stopped or while Redis or the database is away (both with `Retry-After`), 500 for anything
 * else. The detail of a 500 or a 503 is a fixed sentence with the error's `code`: a driver's or a
 * connection's message (host, database, schema) never reaches a client; `report` gets the error
 * (the server logs it).
 *
 * @example
 * catch (error) { return problemResponse(toProblem(error, (e) => console.error(e))); }
 */
export function toProblem(error: unknown, report?: (error: unknown) => void): HttpProblem {
  if (error instanceof HttpProblem) return error;
  if (error instanceof SproutValidationError) {
    return new HttpProblem(422, error.code, error.message, {
      extensions: { issues: error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })) },
    });
  }
  if (error instanceof SessionNotFoundError || error instanceof UnknownChildError) return new HttpProblem(404, error.code, error.message);
  if (error instanceof SpawnDepthExceededError)
    return new HttpProblem(422, error.code, error.message, { extensions: { depth: error.depth, max_depth: error.maxDepth } });
  if (error instanceof SessionBusyError)
    return new HttpProblem(409, error.code, error.message, { extensions: { session_id: error.sessionId, run_id: error.runId } });
  if (error instanceof QueueFullError)
    return new HttpProblem(429, error.code, 'the spawn queue is full; retry later', {
      headers: { 'retry-after': String(error.retryAfterSeconds) },
    });
  if (error instanceof SchedulerStoppedError) return new HttpProblem(503, error.code, error.message, { headers: { 'retry-after': '5' } });
  try {
    report?.(error);
  } catch {
    // A failing log hook must not turn the answer into an unhandled error.
  }
  if (error instanceof QueueUnavailableError)
    return new HttpProblem(503, error.code, 'the run queue (Redis) is unavailable; retry later', {
      headers: { 'retry-after': OUTAGE_RETRY_AFTER },
    });
  if (error instanceof StoreUnavailableError && isStoreOutage(error))
    return new HttpProblem(503, error.code, 'the session store is unavailable; retry later', {
      headers: { 'retry-after': OUTAGE_RETRY_AFTER },
    });
  if (error instanceof SproutError) return new HttpProblem(500, error.code, 'internal server error');
  return new HttpProblem(500, 'INTERNAL', 'internal server error');
}
