import { isTerminal, type LiveRunStatus } from '../../machines/run-status.js';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';

/** Where a child's run is, as seen from the parent's event stream (the live subset of `run-status.ts`). */
export type ChildState = LiveRunStatus;

/** One child's progress, folded from the parent's events. Times are clock readings (ms). */
export interface ChildRow {
  childSessionId: string;
  runId: string;
  title: string;
  state: ChildState;
  /** `token` and `reasoning_token` events. */
  tokens: number;
  /** `tool_start` events. */
  toolCalls: number;
  /** Name of the tool call in progress, if any. */
  activeTool: string | undefined;
  queuedAt: number;
  /** First heartbeat or child event: the run is in `running`. */
  startedAt: number | undefined;
  lastHeartbeatAt: number | undefined;
  endedAt: number | undefined;
  result: string | undefined;
  error: string | undefined;
  reason: string | undefined;
  /** `sub_session_completed` events seen for this run (exactly one is right). */
  completions: number;
}

/** A fold of a parent's events into one {@link ChildRow} per child, in spawn order. */
export interface ChildProgress {
  /** Applies one envelope of the parent's stream; returns the row it changed, if any. */
  apply(envelope: SessionEventEnvelope, now: number): ChildRow | undefined;
  /** Every row, in the order the children were started. */
  rows(): ChildRow[];
}

const isEnded = (state: ChildState): boolean => isTerminal(state);

/**
 * Folds a parent's event stream into per-child progress rows (state, tokens, tool calls, last
 * heartbeat, timings), the model behind every progress view of the CLI.
 *
 * @example
 * const progress = createChildProgress();
 * scheduler.events(rootId).subscribe((envelope) => progress.apply(envelope, Date.now()));
 */
export function createChildProgress(): ChildProgress {
  const rows = new Map<string, ChildRow>();
  const markRunning = (row: ChildRow, now: number): void => {
    if (row.state !== 'queued') return;
    row.state = 'running';
    row.startedAt = now;
  };

  return {
    rows: () => [...rows.values()],
    apply({ event }, now) {
      switch (event.type) {
        case 'sub_session_started': {
          const row: ChildRow = {
            childSessionId: event.child_session_id,
            runId: event.run_id,
            title: event.title ?? event.child_session_id,
            state: 'queued',
            tokens: 0,
            toolCalls: 0,
            activeTool: undefined,
            queuedAt: now,
            startedAt: undefined,
            lastHeartbeatAt: undefined,
            endedAt: undefined,
            result: undefined,
            error: undefined,
            reason: undefined,
            completions: 0,
          };
          rows.set(event.child_session_id, row);
          return row;
        }
        case 'sub_session_heartbeat': {
          const row = rows.get(event.child_session_id);
          if (!row || row.runId !== event.run_id || isEnded(row.state)) return undefined;
          markRunning(row, now);
          row.lastHeartbeatAt = now;
          return row;
        }
        case 'sub_session_event': {
          const row = rows.get(event.child_session_id);
          if (!row || row.runId !== event.run_id || isEnded(row.state)) return undefined;
          markRunning(row, now);
          const inner = event.event;
          if (inner.type === 'token' || inner.type === 'reasoning_token') row.tokens += 1;
          else if (inner.type === 'tool_start') {
            row.toolCalls += 1;
            row.activeTool = inner.tool_name;
          } else if (inner.type === 'tool_complete' || inner.type === 'tool_error') row.activeTool = undefined;
          return row;
        }
        case 'sub_session_completed': {
          const row = rows.get(event.child_session_id);
          if (!row || row.runId !== event.run_id) return undefined;
          row.completions += 1;
          row.state = event.status;
          row.activeTool = undefined;
          row.endedAt = now;
          row.result = event.result;
          row.error = event.error;
          row.reason = event.reason;
          return row;
        }
        default:
          return undefined;
      }
    },
  };
}

/** Seconds with one decimal: `2.4s`. */
export function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/** Time spent in the current phase: queued for, running for, or the run's duration once ended. */
export function elapsedOf(row: ChildRow, now: number): number {
  if (row.startedAt === undefined) return (row.endedAt ?? now) - row.queuedAt;
  return (row.endedAt ?? now) - row.startedAt;
}

/** Cuts `text` to `max` characters with an ellipsis, on one line. */
export function excerpt(text: string | undefined, max: number): string {
  if (text === undefined) return '';
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, Math.max(0, max - 1))}…` : flat;
}
