import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { excerpt, seconds, type ChildRow } from './child-progress.js';
import type { DemoView, TextOut } from './demo-view.js';

/** Options of {@link createLineView}. */
export interface LineViewOptions {
  /** Clock reading of the demo's start, for the `+1.23s` prefix. */
  startedAt: number;
  now: () => number;
}

const TITLE_WIDTH = 24;

/**
 * Plain output for pipes and logs (stdout is not a terminal): one line per meaningful event —
 * queued, running, tool calls, the end of each run — no cursor movement. Tokens and heartbeats
 * are counted, not printed.
 *
 * @example
 * const view = createLineView(process.stdout, { startedAt: Date.now(), now: Date.now });
 */
export function createLineView(stdout: TextOut, options: LineViewOptions): DemoView {
  const print = (label: string, row: ChildRow, text = ''): void => {
    const at = `+${((options.now() - options.startedAt) / 1000).toFixed(2)}s`;
    stdout.write(`${at.padStart(8)}  ${label.padEnd(9)}  ${excerpt(row.title, TITLE_WIDTH).padEnd(TITLE_WIDTH)}  ${text}`.trimEnd() + '\n');
  };

  const describe = ({ event }: SessionEventEnvelope, row: ChildRow, wasRunning: boolean): void => {
    switch (event.type) {
      case 'sub_session_started':
        print('queued', row, `run ${row.runId.slice(0, 8)}`);
        return;
      case 'sub_session_heartbeat':
      case 'sub_session_event': {
        if (!wasRunning && row.state === 'running') print('running', row, `child ${row.childSessionId.slice(0, 8)}`);
        if (event.type !== 'sub_session_event') return;
        const inner = event.event;
        if (inner.type === 'tool_start') print('tool', row, `${inner.tool_name} ${excerpt(JSON.stringify(inner.arguments), 60)}`);
        else if (inner.type === 'tool_complete') print('tool done', row, `→ ${excerpt(JSON.stringify(inner.result), 60)}`);
        else if (inner.type === 'tool_error') print('tool err', row, `→ ${excerpt(inner.error, 60)}`);
        return;
      }
      case 'sub_session_completed': {
        const took = row.startedAt === undefined ? 'never ran' : seconds((row.endedAt ?? 0) - row.startedAt);
        const counts = `${took} · ${row.tokens} tokens · ${row.toolCalls} tool call${row.toolCalls === 1 ? '' : 's'}`;
        if (event.status === 'completed') print('completed', row, `${counts} · “${excerpt(event.result, 60)}”`);
        else if (event.status === 'cancelled') print('cancelled', row, `${counts} · reason ${event.reason ?? 'user'}`);
        else print(event.status, row, `${counts} · ${excerpt(event.error, 80)}`);
        return;
      }
      default:
        return;
    }
  };

  const running = new Set<string>();
  return {
    note: (text) => stdout.write(`${text}\n`),
    onEnvelope(envelope, row) {
      if (!row) return;
      const wasRunning = running.has(row.runId);
      if (row.state === 'running') running.add(row.runId);
      describe(envelope, row, wasRunning);
    },
    start: () => {},
    finish: () => Promise.resolve(),
  };
}
