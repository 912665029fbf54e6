import type { z } from 'zod';

/**
 * Base class of every error Sprout throws. `code` is a stable string to branch on.
 *
 * @example
 * try { await scheduler.enqueue(job); } catch (e) { if (e instanceof SproutError && e.code === 'SCHEDULER_STOPPED') retryLater(); }
 */
export class SproutError extends Error {
  /** A stable, machine-readable code. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Input failed its schema. `issues` are zod's issues, `subject` names what was checked.
 *
 * @example
 * await scheduler.enqueue({ parentSessionId: '' } as never); // rejects: SproutValidationError, code 'VALIDATION_FAILED'
 */
export class SproutValidationError extends SproutError {
  readonly issues: readonly z.core.$ZodIssue[];
  readonly subject: string;

  constructor(subject: string, issues: readonly z.core.$ZodIssue[]) {
    const detail = issues.map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`).join('; ');
    super('VALIDATION_FAILED', `invalid ${subject}: ${detail}`);
    this.issues = issues;
    this.subject = subject;
  }
}

/**
 * The scheduler was stopped (or not started yet) and takes no work. The message always starts
 * with `spawn scheduler is not running`; before `start()` it says to call it.
 *
 * @example
 * await scheduler.stop();
 * await scheduler.enqueue(job); // rejects: SchedulerStoppedError, code 'SCHEDULER_STOPPED'
 */
export class SchedulerStoppedError extends SproutError {
  constructor(message = 'spawn scheduler is not running') {
    super('SCHEDULER_STOPPED', message);
  }
}

/**
 * The event log could not take an event the scheduler had to publish. For `enqueue`, the run
 * was dropped unannounced (no `sub_session_started`, no completion): nothing ran, retry later.
 *
 * @example
 * try { await scheduler.enqueue(job); } catch (e) { if (e instanceof EventLogError) retryLater(); }
 */
export class EventLogError extends SproutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('EVENT_LOG_FAILED', message, options);
  }
}

/** A session that an operation needs does not exist. */
export class SessionNotFoundError extends SproutError {
  readonly sessionId: string;
  constructor(sessionId: string, what = 'session') {
    super('SESSION_NOT_FOUND', `${what} ${sessionId} not found`);
    this.sessionId = sessionId;
  }
}

/** `spawnChild` would create a child deeper than `maxDepth`. */
export class SpawnDepthExceededError extends SproutError {
  readonly depth: number;
  readonly maxDepth: number;
  constructor(depth: number, maxDepth: number) {
    super('SPAWN_DEPTH_EXCEEDED', `child depth ${depth} exceeds maxDepth ${maxDepth}`);
    this.depth = depth;
    this.maxDepth = maxDepth;
  }
}

/** A session read from a store failed its schema. Names the session. */
export class InvalidSessionDataError extends SproutError {
  readonly sessionId: string;
  constructor(sessionId: string, detail: string, options?: { cause?: unknown }) {
    super('INVALID_SESSION_DATA', `session ${sessionId} has invalid data: ${detail}`, options);
    this.sessionId = sessionId;
  }
}

/** An agent emitted an event that fails the AgentEvent schema; the run ends in `error`. */
export class InvalidAgentEventError extends SproutError {
  constructor(detail: string) {
    super('INVALID_AGENT_EVENT', `agent emitted an invalid event: ${detail}`);
  }
}

/**
 * A save carried an older version than the stored one (optimistic concurrency): someone else
 * saved the session in between. Re-read, merge, and save again.
 */
export class SessionConflictError extends SproutError {
  readonly sessionId: string;
  readonly expectedVersion: number | undefined;
  readonly actualVersion: number | undefined;
  constructor(sessionId: string, expectedVersion: number | undefined, actualVersion: number | undefined) {
    super(
      'SESSION_CONFLICT',
      `session ${sessionId} was saved by someone else (expected version ${expectedVersion ?? 'none'}, found ${actualVersion ?? 'none'})`,
    );
    this.sessionId = sessionId;
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** A store could not be opened or read (e.g. a file that is not a database). Names the file. */
export class StoreUnavailableError extends SproutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORE_UNAVAILABLE', message, options);
  }
}

/** No child with that id is known to the scheduler or the store. */
export class UnknownChildError extends SproutError {
  readonly childSessionId: string;
  constructor(childSessionId: string) {
    super('UNKNOWN_CHILD', `no run is known for child session ${childSessionId}`);
    this.childSessionId = childSessionId;
  }
}

/**
 * A message was sent to a session whose run is still queued or running (`scheduler.run`): one
 * run per session at a time, as in Bamboo. The server answers 409.
 */
export class SessionBusyError extends SproutError {
  readonly sessionId: string;
  readonly runId: string;
  constructor(sessionId: string, runId: string) {
    super('SESSION_BUSY', `session ${sessionId} is already running (run ${runId}); wait for it to end or cancel it`);
    this.sessionId = sessionId;
    this.runId = runId;
  }
}

/**
 * A write of a run carried an ownership token (its fence: run id + epoch) that is no longer the
 * run's: another worker took the run over. Nothing of the write was stored; the writer lost the
 * run and must stop it.
 */
export class RunFencedError extends SproutError {
  readonly runId: string;
  readonly epoch: number;
  constructor(runId: string, epoch: number, what: string) {
    super('RUN_FENCED', `run ${runId} was taken over by another owner (this writer held epoch ${epoch}): ${what} was not written`);
    this.runId = runId;
    this.epoch = epoch;
  }
}
