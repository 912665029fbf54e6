import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { createChildProgress, elapsedOf, excerpt } from '../../src/cli/child-progress.js';
import { formatDemoSummary, judgeDemo } from '../../src/cli/demo-summary.js';
import { formatLiveRow } from '../../src/cli/live-progress-view.js';

const base = { parent_session_id: 'root', child_session_id: 'c1', run_id: 'r1' };
let seq = 0;
const envelope = (event: AgentEvent) => ({ seq: ++seq, sessionId: 'root', event });

describe('createChildProgress', () => {
  it('folds the parent stream into one row per child: state, tokens, tool calls, heartbeat, timings', () => {
    const progress = createChildProgress();
    progress.apply(envelope({ type: 'sub_session_started', ...base, title: 'Survey' }), 1000);
    expect(progress.rows()[0]).toMatchObject({ state: 'queued', title: 'Survey', queuedAt: 1000 });
    progress.apply(envelope({ type: 'sub_session_heartbeat', ...base, timestamp: '2026-01-01T00:00:00.000Z', events_seen: 0 }), 1500);
    progress.apply(envelope({ type: 'sub_session_event', ...base, event: { type: 'reasoning_token', content: 'Hm ' } }), 1600);
    progress.apply(
      envelope({
        type: 'sub_session_event',
        ...base,
        event: { type: 'tool_start', tool_call_id: 't1', tool_name: 'web_search', arguments: {} },
      }),
      1700,
    );
    expect(progress.rows()[0]).toMatchObject({
      state: 'running',
      startedAt: 1500,
      lastHeartbeatAt: 1500,
      tokens: 1,
      toolCalls: 1,
      activeTool: 'web_search',
    });
    progress.apply(
      envelope({ type: 'sub_session_event', ...base, event: { type: 'tool_complete', tool_call_id: 't1', result: 'ok' } }),
      1800,
    );
    progress.apply(envelope({ type: 'sub_session_event', ...base, event: { type: 'token', content: 'Done' } }), 1900);
    const row = progress.apply(envelope({ type: 'sub_session_completed', ...base, status: 'completed', result: 'Done' }), 2500);
    expect(row).toMatchObject({ state: 'completed', tokens: 2, activeTool: undefined, endedAt: 2500, result: 'Done', completions: 1 });
    expect(elapsedOf(progress.rows()[0]!, 9999)).toBe(1000);
    // Anything of that run after its completion is ignored (and would be a scheduler bug).
    expect(
      progress.apply(envelope({ type: 'sub_session_event', ...base, event: { type: 'token', content: 'late' } }), 2600),
    ).toBeUndefined();
  });

  it('ignores events of another run of the same child and counts repeated completions', () => {
    const progress = createChildProgress();
    progress.apply(envelope({ type: 'sub_session_started', ...base }), 0);
    expect(
      progress.apply(envelope({ type: 'sub_session_heartbeat', ...base, run_id: 'old', timestamp: 'x', events_seen: 0 }), 1),
    ).toBeUndefined();
    progress.apply(envelope({ type: 'sub_session_completed', ...base, status: 'cancelled', reason: 'user' }), 2);
    progress.apply(envelope({ type: 'sub_session_completed', ...base, status: 'cancelled', reason: 'user' }), 3);
    const rows = progress.rows();
    expect(rows[0]).toMatchObject({ state: 'cancelled', completions: 2, startedAt: undefined });
    expect(judgeDemo([{ title: 'c1', prompt: '', script: [], answer: null, expected: 'cancelled' }], rows)).toEqual([
      { title: 'c1', childSessionId: 'c1', expected: 'cancelled', actual: 'repeated', ok: false },
    ]);
    expect(formatDemoSummary(rows, [])).toMatch(/cancelled \(user\)/);
  });

  it('formats a live row and cuts long text', () => {
    const progress = createChildProgress();
    progress.apply(envelope({ type: 'sub_session_started', ...base, title: 'Compare SQLite modes' }), 0);
    progress.apply(envelope({ type: 'sub_session_heartbeat', ...base, timestamp: 'x', events_seen: 0 }), 100);
    const text = formatLiveRow(progress.rows()[0]!, 1600);
    expect(text).toMatch(/^Compare SQLite modes\s+running\s+1\.5s\s+0 tok\s+0 tools\s+hb 1\.5s ago$/);
    expect(excerpt('a  b\nc', 10)).toBe('a b c');
    expect(excerpt('abcdefghijk', 5)).toBe('abcd…');
  });

  // Bug pinned: on an 80-column terminal, rows were cut before the elapsed time and the answer.
  it('fits an ended row into 80 columns with its elapsed time and the start of its answer', () => {
    const progress = createChildProgress();
    progress.apply(envelope({ type: 'sub_session_started', ...base, title: 'Compare SQLite modes in depth' }), 0);
    progress.apply(envelope({ type: 'sub_session_heartbeat', ...base, timestamp: 'x', events_seen: 0 }), 100);
    const answer = 'WAL with synchronous=NORMAL is about seven times faster than the default here.';
    progress.apply(envelope({ type: 'sub_session_completed', ...base, status: 'completed', result: answer }), 2500);
    for (const columns of [80, 100, 200]) {
      const text = formatLiveRow(progress.rows()[0]!, 9000, columns);
      expect(text.length + 2).toBeLessThanOrEqual(columns - 2);
      expect(text).toMatch(/completed\s+2\.4s\s+0 tok\s+0 tools\s+“WAL with/);
    }
    expect(formatLiveRow(progress.rows()[0]!, 9000, 200)).toContain(`“${answer}”`);
  });
});
