import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { parseEnvelopes, runCli, tempDb } from './cli-process.js';

/**
 * Everything a seed decides, per child: ids, titles, and the ordered types of its events
 * (heartbeats are left out: how many fit in a run depends on the wall clock).
 */
function shapeOf(envelopes: readonly SessionEventEnvelope[]) {
  const started: string[] = [];
  const perChild = new Map<string, string[]>();
  for (const { sessionId, event } of envelopes) {
    if (event.type === 'sub_session_started') {
      started.push(`${sessionId} ${event.child_session_id} ${event.run_id} ${event.title ?? ''}`);
      perChild.set(event.child_session_id, []);
    } else if (event.type === 'sub_session_event') {
      const inner = event.event;
      const detail = inner.type === 'tool_start' ? `${inner.type}:${inner.tool_call_id}:${inner.tool_name}` : 'content' in inner ? `${inner.type}:${inner.content}` : inner.type;
      perChild.get(event.child_session_id)?.push(`${event.run_id} ${detail}`);
    } else if (event.type === 'sub_session_completed') {
      perChild.get(event.child_session_id)?.push(`${event.run_id} completed:${event.status}:${event.error ?? ''}:${event.result ?? ''}`);
    }
  }
  return { started, perChild: Object.fromEntries(perChild) };
}

describe('sprout demo --seed', () => {
  it('gives the same run for the same seed: ids, titles, scripts and outcomes, and a different one for another seed', async () => {
    const args = ['demo', '--json', '--children', '3', '--concurrency', '3', '--fail'];
    const [first, second, other] = await Promise.all([
      runCli([...args, '--seed', 'same-seed', '--db', tempDb()]),
      runCli([...args, '--seed', 'same-seed', '--db', tempDb()]),
      runCli([...args, '--seed', 'other-seed', '--db', tempDb()]),
    ]);
    expect([first.code, second.code, other.code]).toEqual([0, 0, 0]);

    const a = shapeOf(parseEnvelopes(first.stdout));
    const b = shapeOf(parseEnvelopes(second.stdout));
    expect(a.started).toHaveLength(3);
    expect(b).toEqual(a);
    expect(Object.values(a.perChild).flat().filter((line) => line.includes('completed:error'))).toHaveLength(1);

    const c = shapeOf(parseEnvelopes(other.stdout));
    expect(c.started).not.toEqual(a.started);
  });

  it('replaces the earlier run of the same seed in the same database file', async () => {
    const db = tempDb();
    const args = ['demo', '--json', '--children', '1', '--seed', 'again', '--db', db];
    const first = await runCli(args);
    const second = await runCli(args);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(second.stderr).toMatch(/replaced the earlier run with seed again/);
    const status = await runCli(['status', '--db', db, '--json']);
    const report = JSON.parse(status.stdout) as { sessions: { kind: string }[] };
    expect(report.sessions.map((session) => session.kind)).toEqual(['root', 'child']);
  });
});
