import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { parseEnvelopes, runCli, tempDb } from './cli-process.js';

/**
 * Everything a seed decides, per child title: the ordered types and contents of its events and
 * its outcome. Ids are left out (they are fresh on every run), and so are heartbeats (how many
 * fit in a run depends on the wall clock).
 */
function shapeOf(envelopes: readonly SessionEventEnvelope[]) {
  const titles = new Map<string, string>();
  const perChild = new Map<string, string[]>();
  for (const { event } of envelopes) {
    if (event.type === 'sub_session_started') {
      titles.set(event.child_session_id, event.title ?? '');
      perChild.set(event.title ?? '', []);
    } else if (event.type === 'sub_session_event') {
      const inner = event.event;
      const detail =
        inner.type === 'tool_start'
          ? `${inner.type}:${inner.tool_name}`
          : 'content' in inner
            ? `${inner.type}:${inner.content}`
            : inner.type;
      perChild.get(titles.get(event.child_session_id) ?? '')?.push(detail);
    } else if (event.type === 'sub_session_completed') {
      perChild.get(titles.get(event.child_session_id) ?? '')?.push(`completed:${event.status}:${event.error ?? ''}:${event.result ?? ''}`);
    }
  }
  return { titles: [...titles.values()], perChild: Object.fromEntries(perChild) };
}

/** The run ids of a demo's stream, and how many completions each got. */
function completionsByRun(envelopes: readonly SessionEventEnvelope[]): Map<string, number> {
  const runs = new Map<string, number>();
  for (const { event } of envelopes) {
    if (event.type === 'sub_session_started') runs.set(event.run_id, runs.get(event.run_id) ?? 0);
    if (event.type === 'sub_session_completed') runs.set(event.run_id, (runs.get(event.run_id) ?? 0) + 1);
  }
  return runs;
}

describe('sprout demo --seed', () => {
  it('gives the same plan for the same seed (titles, scripts, outcomes) with fresh ids, and a different plan for another seed', async () => {
    const args = ['demo', '--json', '--children', '3', '--concurrency', '3', '--fail'];
    const [first, second, other] = await Promise.all([
      runCli([...args, '--seed', 'same-seed', '--db', tempDb()]),
      runCli([...args, '--seed', 'same-seed', '--db', tempDb()]),
      runCli([...args, '--seed', 'other-seed', '--db', tempDb()]),
    ]);
    expect([first.code, second.code, other.code]).toEqual([0, 0, 0]);

    const a = shapeOf(parseEnvelopes(first.stdout));
    const b = shapeOf(parseEnvelopes(second.stdout));
    expect(a.titles).toHaveLength(3);
    expect(b).toEqual(a);
    expect(
      Object.values(a.perChild)
        .flat()
        .filter((line) => line.startsWith('completed:error')),
    ).toHaveLength(1);
    const runIds = (stdout: string) => [...completionsByRun(parseEnvelopes(stdout)).keys()];
    expect(runIds(second.stdout).filter((id) => runIds(first.stdout).includes(id))).toEqual([]);

    const c = shapeOf(parseEnvelopes(other.stdout));
    expect(c).not.toEqual(a);
  });

  // Bug pinned: a second `--seed 42` run on the same --db reused the first run's ids, so the log
  // held two sub_session_completed for one run id. A run id is unique per database, for ever.
  it('never reuses a run id in a database: a second run of the same seed adds its own root, children and runs', async () => {
    const db = tempDb();
    const args = ['demo', '--json', '--children', '2', '--seed', 'again', '--db', db];
    const first = await runCli(args);
    const second = await runCli(args);
    expect([first.code, second.code]).toEqual([0, 0]);
    const runs = [...completionsByRun(parseEnvelopes(first.stdout)), ...completionsByRun(parseEnvelopes(second.stdout))];
    expect(runs).toHaveLength(4);
    expect(new Set(runs.map(([runId]) => runId)).size).toBe(4);
    expect(runs.map(([, completions]) => completions)).toEqual([1, 1, 1, 1]);

    const status = await runCli(['status', '--db', db, '--json']);
    const report = JSON.parse(status.stdout) as { sessions: { kind: string; last_run_id: string | null }[] };
    expect(report.sessions.filter((session) => session.kind === 'root')).toHaveLength(2);
    const childRunIds = report.sessions.filter((session) => session.kind === 'child').map((session) => session.last_run_id);
    expect(new Set(childRunIds).size).toBe(4);
  });
});
