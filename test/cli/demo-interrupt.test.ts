import { describe, expect, it } from 'vitest';
import { parseEnvelopes, runCli, startCli, tempDb } from './cli-process.js';

describe('Ctrl+C during sprout demo', () => {
  it('cancels every run (reason shutdown), still publishes one completion per run, and exits 130', async () => {
    const db = tempDb();
    const demo = startCli(['demo', '--json', '--children', '4', '--concurrency', '2', '--seed', 'interrupt', '--db', db]);
    await demo.waitForLine(/"type":"tool_start"/, 'stdout');
    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(130);

    const envelopes = parseEnvelopes(demo.stdout());
    const started = envelopes.filter(({ event }) => event.type === 'sub_session_started');
    const completions = envelopes.flatMap(({ event }) => (event.type === 'sub_session_completed' ? [event] : []));
    expect(completions).toHaveLength(started.length);
    expect(completions.filter((event) => event.status === 'cancelled').every((event) => event.reason === 'shutdown')).toBe(true);
    expect(demo.stderr()).toMatch(/interrupted after \d+\.\ds: \d of \d runs cancelled/);

    const status = JSON.parse((await runCli(['status', '--db', db, '--json', '--read-only'])).stdout) as {
      sessions: { last_run_status: string | null }[];
    };
    expect(status.sessions.filter((session) => session.last_run_status === 'running' || session.last_run_status === 'pending')).toEqual([]);
  });
});
