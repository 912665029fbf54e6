import type { AgentEvent } from '../../../machines/agent-event.events.js';
import type { EventLog } from '../../api/ports.js';

/**
 * What an event-log factory hands the suites: a fresh, empty log, and how to reopen its storage
 * and dispose of it.
 *
 * @example
 * const made: EventLogUnderTest = { log: new MemoryEventLog({ retention: 10 }) };
 */
export interface EventLogUnderTest {
  /** The log under test, fresh and empty. */
  log: EventLog;
  /**
   * Closes this log and opens a new one on the same storage, with the same retention (durable
   * logs only; a log whose `capabilities.durable` is true must have it). May be called more than
   * once; `cleanup` must then dispose of the latest log.
   */
  reopen?: () => Promise<EventLog> | EventLog;
  /** Disposes of the log (and of a reopened one): closes it, deletes its files. */
  cleanup?: () => Promise<void> | void;
}

/**
 * What a conformance run needs: a fresh, empty log (with `retention` envelopes kept per session),
 * a way to dispose of it, and — for a durable log — a way to reopen the same storage.
 *
 * @example
 * const create: CreateEventLog = async ({ retention }) => ({ log: new MemoryEventLog({ retention }) });
 */
export type CreateEventLog = (options: { retention: number }) => Promise<EventLogUnderTest> | EventLogUnderTest;

/** Wraps a test body: creates a log with `retention`, runs `body`, then always disposes of it. */
export function withLog(
  create: CreateEventLog,
  retention: number,
  body: (made: EventLogUnderTest) => Promise<void> | void,
): () => Promise<void> {
  return async () => {
    const made = await create({ retention });
    try {
      await body(made);
    } finally {
      await made.cleanup?.();
    }
  };
}

/** Fails the test with `message` unless `condition` holds (a clear reason, not a matcher diff). */
export function must(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

/** Reopens a durable log through the factory's hook, failing clearly when there is none. */
export async function reopen(made: EventLogUnderTest, suite: string): Promise<EventLog> {
  must(
    typeof made.reopen === 'function',
    `${suite}: the log declares capabilities.durable, so its factory must return a reopen() hook to check that (closes the log, opens the same storage again)`,
  );
  return made.reopen();
}

/** Sessions' seqs in a read, for short assertions. */
export async function seqsOf(log: EventLog, sessionId: string, afterSeq = 0): Promise<number[]> {
  return (await log.read(sessionId, afterSeq)).envelopes.map((envelope) => envelope.seq);
}

/** A `token` event. */
export const token = (content: string): AgentEvent => ({ type: 'token', content });

/** The `sub_session_started` with which `parent` announces run `run` of `child` (title `T <child>` unless `null`). */
export const started = (parent: string, child: string, run: string, title: string | null = `T ${child}`): AgentEvent =>
  title === null
    ? { type: 'sub_session_started', parent_session_id: parent, child_session_id: child, run_id: run }
    : { type: 'sub_session_started', parent_session_id: parent, child_session_id: child, run_id: run, title };

/** The `sub_session_completed` that ends run `run` of `child` on `parent`'s stream. */
export const completed = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_completed',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  status: 'completed',
});
