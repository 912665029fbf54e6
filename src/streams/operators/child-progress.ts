import { scan, type OperatorFunction } from 'rxjs';
import type { SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { isTerminal, type LiveRunStatus } from '../../../machines/run-status.js';

/** Where a child's run is, as seen from its parent's stream (the live subset of `run-status.ts`). */
export type ChildProgressState = LiveRunStatus;

/** One child's latest run, folded from its parent's stream. Times are `now()` readings (ms). */
export interface ChildProgressRow {
  readonly childSessionId: string;
  readonly runId: string;
  readonly title: string;
  readonly state: ChildProgressState;
  /** `token` and `reasoning_token` events. */
  readonly tokens: number;
  /** `tool_start` events. */
  readonly toolCalls: number;
  /** Name of the tool call in progress, if any. */
  readonly activeTool?: string;
  readonly eventsSeen: number;
  readonly queuedAt: number;
  /** First heartbeat or child event: the run is in `running`. */
  readonly startedAt?: number;
  readonly lastHeartbeatAt?: number;
  readonly endedAt?: number;
  readonly result?: string;
  readonly error?: string;
  readonly reason?: string;
}

/** Every child's row, in the order their runs were started (a new run of a child moves it last). */
export type ChildProgressSnapshot = ReadonlyMap<string, ChildProgressRow>;

const ended = (state: ChildProgressState): boolean => isTerminal(state);

/**
 * Applies one envelope of a parent's stream to a progress snapshot; returns the same snapshot
 * when nothing changed, else a new one (rows are immutable, so a UI can compare by reference).
 * Events of a run other than the child's latest one are ignored.
 *
 * @example
 * let progress: ChildProgressSnapshot = new Map();
 * progress = reduceChildProgress(progress, envelope, Date.now());
 */
export function reduceChildProgress(snapshot: ChildProgressSnapshot, { event }: SessionEventEnvelope, now: number): ChildProgressSnapshot {
  const set = (row: ChildProgressRow, moveLast = false): ChildProgressSnapshot => {
    const next = new Map(snapshot);
    if (moveLast) next.delete(row.childSessionId);
    next.set(row.childSessionId, row);
    return next;
  };
  switch (event.type) {
    case 'sub_session_started':
      return set(
        {
          childSessionId: event.child_session_id,
          runId: event.run_id,
          title: event.title ?? event.child_session_id,
          state: 'queued',
          tokens: 0,
          toolCalls: 0,
          eventsSeen: 0,
          queuedAt: now,
        },
        true,
      );
    case 'sub_session_heartbeat': {
      const row = snapshot.get(event.child_session_id);
      if (!row || row.runId !== event.run_id || ended(row.state)) return snapshot;
      return set({ ...row, state: 'running', startedAt: row.startedAt ?? now, lastHeartbeatAt: now });
    }
    case 'sub_session_event': {
      const row = snapshot.get(event.child_session_id);
      if (!row || row.runId !== event.run_id || ended(row.state)) return snapshot;
      const inner = event.event;
      const next: { -readonly [K in keyof ChildProgressRow]: ChildProgressRow[K] } = {
        ...row,
        state: 'running',
        startedAt: row.startedAt ?? now,
        eventsSeen: row.eventsSeen + 1,
      };
      if (inner.type === 'token' || inner.type === 'reasoning_token') next.tokens += 1;
      else if (inner.type === 'tool_start') {
        next.toolCalls += 1;
        next.activeTool = inner.tool_name;
      } else if (inner.type === 'tool_complete' || inner.type === 'tool_error') delete next.activeTool;
      return set(next);
    }
    case 'sub_session_completed': {
      const row = snapshot.get(event.child_session_id);
      if (!row || row.runId !== event.run_id || ended(row.state)) return snapshot;
      const next: { -readonly [K in keyof ChildProgressRow]: ChildProgressRow[K] } = { ...row, state: event.status, endedAt: now };
      delete next.activeTool;
      if (event.result !== undefined) next.result = event.result;
      if (event.error !== undefined) next.error = event.error;
      if (event.reason !== undefined) next.reason = event.reason;
      return set(next);
    }
    default:
      return snapshot;
  }
}

/**
 * Folds a parent's stream into per-child progress (state, tokens, tool calls, heartbeats,
 * timings, answer or error) — the model behind a progress view, shared by the CLI and a UI.
 *
 * @example
 * scheduler.events('root', { afterSeq: 0 }).pipe(childProgress(Date.now)).subscribe((rows) => render([...rows.values()]));
 */
export function childProgress(now: () => number): OperatorFunction<SessionEventEnvelope, ChildProgressSnapshot> {
  return scan(
    (snapshot: ChildProgressSnapshot, envelope: SessionEventEnvelope) => reduceChildProgress(snapshot, envelope, now()),
    new Map() as ChildProgressSnapshot,
  );
}
