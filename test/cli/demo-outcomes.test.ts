import { describe, expect, it } from 'vitest';
import { parseEnvelopes, runCli, tempDb } from './cli-process.js';

describe('sprout demo --fail / --cancel-after', () => {
  it('ends one run in error and one cancelled, as asked, and still exits 0', async () => {
    const db = tempDb();
    const result = await runCli([
      'demo',
      '--json',
      '--children',
      '4',
      '--concurrency',
      '2',
      '--fail',
      '--cancel-after',
      '400',
      '--seed',
      'outcomes',
      '--db',
      db,
    ]);

    expect(result.code).toBe(0);
    const completions = parseEnvelopes(result.stdout).flatMap(({ event }) => (event.type === 'sub_session_completed' ? [event] : []));
    expect(completions.map((event) => event.status).sort()).toEqual(['cancelled', 'completed', 'completed', 'error']);
    const failed = completions.find((event) => event.status === 'error');
    expect(failed?.error).toBe('upstream API returned HTTP 503 (simulated failure)');
    const cancelled = completions.find((event) => event.status === 'cancelled');
    expect(cancelled?.reason).toBe('user');

    const status = await runCli(['status', '--db', db, '--json']);
    expect(status.code).toBe(0);
    const report = JSON.parse(status.stdout) as {
      sessions: { id: string; last_run_status: string | null; last_run_error: string | null }[];
    };
    const byId = new Map(report.sessions.map((session) => [session.id, session]));
    expect(byId.get(failed?.child_session_id ?? '')).toMatchObject({
      last_run_status: 'error',
      last_run_error: 'upstream API returned HTTP 503 (simulated failure)',
    });
    expect(byId.get(cancelled?.child_session_id ?? '')).toMatchObject({ last_run_status: 'cancelled' });
  });

  it('prints plain lines and a summary table when stdout is not a terminal', async () => {
    const result = await runCli(['demo', '--children', '2', '--fail', '--seed', 'plain', '--db', tempDb()]);

    expect(result.code).toBe(0);
    expect(result.stdout).not.toContain('\u001b[');
    expect(result.stdout).toMatch(/^\s+\+\d+\.\d\ds\s+queued\s+/m);
    expect(result.stdout).toMatch(/^\s+\+\d+\.\d\ds\s+tool\s+/m);
    expect(result.stdout).toMatch(/^CHILD\s+TITLE\s+STATUS\s+DURATION\s+TOKENS\s+TOOLS\s+ANSWER \/ ERROR$/m);
    expect(result.stdout).toMatch(/\berror\b.*HTTP 503/);
    expect(result.stdout).toMatch(/2\/2 runs ended as expected/);
  });
});
