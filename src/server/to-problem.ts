import {
  SchedulerStoppedError,
  SessionBusyError,
  SessionNotFoundError,
  SpawnDepthExceededError,
  SproutError,
  SproutValidationError,
  UnknownChildError,
} from '../errors.js';
import { HttpProblem } from './problem.js';

/**
 * Maps an error thrown by the scheduler or a handler to the {@link HttpProblem} the API answers
 * with: 404 for unknown sessions, 422 for invalid input and depth, 409 for a message to a session
 * that is already running, 503 once the scheduler stopped,
 * 500 (with the error's `code`, never its stack) for anything else.
 *
 * @example
 * catch (error) { return problemResponse(toProblem(error)); }
 */
export function toProblem(error: unknown): HttpProblem {
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
  if (error instanceof SchedulerStoppedError) return new HttpProblem(503, error.code, error.message, { headers: { 'retry-after': '5' } });
  if (error instanceof SproutError) return new HttpProblem(500, error.code, error.message);
  return new HttpProblem(500, 'INTERNAL', 'internal server error');
}
