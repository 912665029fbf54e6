import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { StatelyInspectionEvent } from '@statelyai/inspect';
import { CliUsageError, oneLine } from './cli-error.js';
import { safeJsonStringify } from './safe-json.js';

/** Writes inspection events to a file as JSON Lines, in the order they happen. */
export interface TraceWriter {
  readonly path: string;
  /** Events written so far. */
  readonly count: number;
  /** Appends one event as one line (an `@statelyai/inspect` adapter's `send`). */
  send(event: StatelyInspectionEvent): void;
  /** Closes the file. Idempotent. */
  close(): void;
}

/** Inspection event types a trace may hold (the three `@statelyai/inspect` sends). */
const TRACE_TYPES = new Set(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);

/**
 * Opens (truncating) a trace file for the `--trace FILE` flag. Fails at once, with a one-line
 * {@link CliUsageError}, if the file cannot be created, before anything runs. Writes are
 * synchronous, so a trace is complete up to the last event even if the process is killed.
 *
 * @example
 * const trace = createTraceWriter('run.trace.jsonl');
 * const inspector = createInspector({ send: (event) => trace.send(event) });
 */
export function createTraceWriter(path: string): TraceWriter {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'w');
  } catch (error) {
    throw new CliUsageError(`cannot write trace file ${path}: ${oneLine(error)}`, { cause: error });
  }
  let count = 0;
  return {
    path,
    get count() {
      return count;
    },
    send(event) {
      if (fd === undefined) return;
      writeSync(fd, `${safeJsonStringify(event)}\n`);
      count += 1;
    },
    close() {
      if (fd === undefined) return;
      closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * Reads a trace written by `--trace`: one inspection event per non-empty line. Throws a one-line
 * {@link CliUsageError} naming the file and line for anything else.
 *
 * @example
 * const events = readTraceFile('run.trace.jsonl'); // StatelyInspectionEvent[]
 */
export function readTraceFile(path: string): StatelyInspectionEvent[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliUsageError(`cannot read trace file ${path}: ${oneLine(error)}`, { cause: error });
  }
  const events: StatelyInspectionEvent[] = [];
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new CliUsageError(`${path}:${index + 1}: not JSON (a trace has one inspection event per line)`);
    }
    const candidate = value as { type?: unknown; sessionId?: unknown } | null;
    if (
      typeof candidate !== 'object' ||
      candidate === null ||
      typeof candidate.type !== 'string' ||
      !TRACE_TYPES.has(candidate.type) ||
      typeof candidate.sessionId !== 'string'
    ) {
      throw new CliUsageError(
        `${path}:${index + 1}: not an inspection event (expected @xstate.actor, @xstate.event or @xstate.snapshot with a sessionId)`,
      );
    }
    events.push(value as StatelyInspectionEvent);
  });
  if (events.length === 0) throw new CliUsageError(`${path}: no inspection events in the file`);
  return events;
}
