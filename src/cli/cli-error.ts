import { SproutError, StoreUnavailableError } from '../errors.js';

/**
 * A mistake in how the CLI was called (a bad flag, a bad value, a file that cannot be used):
 * reported as one line on stderr with exit code 2, never a stack trace.
 *
 * @example
 * throw new CliUsageError('--children must be an integer from 1 to 100 (got "abc")');
 */
export class CliUsageError extends SproutError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CLI_USAGE', message, options);
  }
}

/** Exit codes of the `sprout` CLI. */
export const EXIT = {
  /** Everything ended as expected. */
  ok: 0,
  /** The command ran but something did not end as expected (e.g. a run with the wrong status). */
  failed: 1,
  /** Bad flags, bad values, unusable files. */
  usage: 2,
  /** Interrupted with Ctrl+C (128 + SIGINT). */
  interrupted: 130,
} as const;

/**
 * The exit code for an error that escaped a command: 2 for usage errors and unusable files
 * (a store that cannot be opened), 1 for anything else.
 *
 * @example
 * process.exitCode = exitCodeOf(error);
 */
export function exitCodeOf(error: unknown): number {
  // A service that cannot be reached (the store, PostgreSQL, Redis's queue) is a setting to fix,
  // like a bad flag or file: the same code whichever it is.
  const unreachable = error instanceof SproutError && (error.code === 'STORE_UNAVAILABLE' || error.code === 'QUEUE_UNAVAILABLE');
  return error instanceof CliUsageError || error instanceof StoreUnavailableError || unreachable ? EXIT.usage : EXIT.failed;
}

/**
 * An error as one line of text (first line of the message; never a stack).
 *
 * @example
 * stderr.write(`sprout: ${oneLine(error)}\n`);
 */
export function oneLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  const first = text.split(/\r?\n/).find((line) => line.trim() !== '') ?? 'unknown error';
  return first.trim();
}
