import type { AgentEvent, CompletionReason, CompletionStatus, Usage } from '../api/wire-types.js';
import type { ObservedRun, ObservedRunState, RunChange } from './observed-run.js';

/** Ended run ids remembered, so a run seen on two watched streams is reported once. */
const ENDED_REMEMBERED = 10_000;

/** The runs an observer follows; {@link applyEvent} updates it. */
export interface RunBook {
  /** Runs seen and not ended, by run id. */
  readonly open: Map<string, ObservedRun>;
  /** Recently ended run ids (at most {@link ENDED_REMEMBERED}). */
  readonly ended: Set<string>;
  /** The open run of each session, by session id. */
  readonly current: Map<string, string>;
  readonly now: () => number;
  readonly emit: (change: RunChange) => void;
}

/** How a run whose announcement was not seen starts. */
interface StartHint {
  startSeen: boolean;
  state: ObservedRunState;
}

interface RunIds {
  parent_session_id: string;
  child_session_id: string;
  run_id: string;
  title?: string | undefined;
}

const snapshot = (run: ObservedRun): ObservedRun => ({ ...run });

function start(book: RunBook, ids: RunIds, hint: StartHint): ObservedRun | undefined {
  if (book.ended.has(ids.run_id)) return undefined;
  const known = book.open.get(ids.run_id);
  if (known !== undefined) return known;
  const run: ObservedRun = {
    runId: ids.run_id,
    sessionId: ids.child_session_id,
    parentSessionId: ids.parent_session_id,
    state: hint.state,
    startedAt: book.now(),
    startSeen: hint.startSeen,
  };
  const parentRunId = book.current.get(ids.parent_session_id);
  if (parentRunId !== undefined) run.parentRunId = parentRunId;
  if (ids.title !== undefined) run.title = ids.title;
  book.open.set(run.runId, run);
  book.current.set(run.sessionId, run.runId);
  book.emit({ type: 'started', run: snapshot(run) });
  return run;
}

interface EndFields {
  status: CompletionStatus;
  reason?: CompletionReason | undefined;
  error?: string | undefined;
  usage?: Usage | undefined;
}

function end(book: RunBook, ids: RunIds, fields: EndFields): void {
  const run = start(book, ids, { startSeen: false, state: 'running' });
  if (run === undefined) return;
  run.state = 'ended';
  run.status = fields.status;
  if (fields.reason !== undefined) run.reason = fields.reason;
  if (fields.error !== undefined) run.error = fields.error;
  if (fields.usage !== undefined) run.usage = fields.usage;
  run.endedAt = book.now();
  book.open.delete(run.runId);
  if (book.current.get(run.sessionId) === run.runId) book.current.delete(run.sessionId);
  book.ended.add(run.runId);
  if (book.ended.size > ENDED_REMEMBERED) book.ended.delete(book.ended.values().next().value as string);
  book.emit({ type: 'ended', run: snapshot(run) });
}

/** The open root run (`parentSessionId: ''`) of a session, if any. */
function rootRunOf(book: RunBook, sessionId: string): ObservedRun | undefined {
  const runId = book.current.get(sessionId);
  const run = runId === undefined ? undefined : book.open.get(runId);
  return run?.parentSessionId === '' ? run : undefined;
}

/** A root run's terminal `error` text for a cancel (`run cancelled (reason: user)`). */
const CANCELLED = /^run cancelled \(reason: ([a-z]+)\)$/;

/**
 * Applies one event of `sessionId`'s stream to the book: only the sub-session events that
 * `sessionId` announced itself count (`parent_session_id === sessionId`), and with `unwrap` the
 * events forwarded inside `sub_session_event` are applied as events of the child's own stream.
 * A root's own terminal `complete` / `error` ends its own run. `hint` marks a start the caller
 * synthesized (see `observeRuns`'s `runStates`).
 *
 * @example
 * applyEvent(book, 'root', { type: 'sub_session_started', parent_session_id: 'root', child_session_id: 'c', run_id: 'r' }, true);
 */
export function applyEvent(book: RunBook, sessionId: string, event: AgentEvent, unwrap: boolean, hint?: StartHint): void {
  switch (event.type) {
    case 'sub_session_started':
      if (event.parent_session_id === sessionId || hint !== undefined) start(book, event, hint ?? { startSeen: true, state: 'queued' });
      return;
    case 'sub_session_heartbeat': {
      if (event.parent_session_id !== sessionId) return;
      const run = start(book, event, { startSeen: false, state: 'running' });
      const state: ObservedRunState = (event.waiting_on?.length ?? 0) > 0 ? 'waiting' : 'running';
      if (run === undefined || run.state === state) return;
      run.state = state;
      book.emit({ type: 'state', run: snapshot(run) });
      return;
    }
    case 'sub_session_completed':
      if (event.parent_session_id === sessionId) end(book, event, { status: event.status, reason: event.reason, error: event.error });
      return;
    case 'sub_session_event': {
      if (event.parent_session_id !== sessionId) return;
      const inner = event.event;
      if (inner.type === 'complete') {
        const run = book.open.get(event.run_id);
        if (run !== undefined) run.usage = inner.usage;
      }
      if (unwrap) applyEvent(book, event.child_session_id, inner, true);
      return;
    }
    case 'complete':
    case 'error': {
      const run = rootRunOf(book, sessionId);
      if (run === undefined) return;
      const ids = { parent_session_id: '', child_session_id: sessionId, run_id: run.runId };
      if (event.type === 'complete') return end(book, ids, { status: 'completed', usage: event.usage });
      const cancelled = CANCELLED.exec(event.message);
      if (cancelled !== null) end(book, ids, { status: 'cancelled', reason: cancelled[1] as CompletionReason });
      else end(book, ids, { status: 'error', error: event.message });
      return;
    }
    default:
      return;
  }
}
