import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runCli, startCli, tempDb } from './cli-process.js';

interface StatusJson {
  owner: unknown;
  reconciled: { interrupted: string[] } | null;
  sessions: { id: string; kind: string; last_run_status: string | null; last_run_error: string | null }[];
}

describe('kill -9 of a running demo', () => {
  it('leaves runs behind that the next command reconciles: status then shows none running', async () => {
    const db = tempDb();
    const demo = startCli(['demo', '--json', '--children', '4', '--concurrency', '2', '--seed', 'killed', '--db', db]);
    // A tool call on the wire means a child is in `running` (its metadata says so in the file).
    await demo.waitForLine(/"type":"tool_start"/, 'stdout');
    demo.child.kill('SIGKILL');
    expect(await demo.exited).toBe('SIGKILL');
    expect(existsSync(`${db}.lock`)).toBe(true);

    const before = JSON.parse((await runCli(['status', '--db', db, '--json', '--read-only'])).stdout) as StatusJson;
    const stranded = before.sessions.filter((session) => session.last_run_status === 'running' || session.last_run_status === 'pending');
    expect(stranded.length).toBeGreaterThan(0);
    expect(before.reconciled).toBeNull();

    const status = await runCli(['status', '--db', db, '--json']);
    expect(status.code).toBe(0);
    const after = JSON.parse(status.stdout) as StatusJson;
    expect(after.owner).toBeNull();
    expect(after.reconciled?.interrupted.sort()).toEqual(stranded.map((session) => session.id).sort());
    const children = after.sessions.filter((session) => session.kind === 'child');
    const spawned = demo
      .stdout()
      .split('\n')
      .filter((line) => line.includes('"type":"sub_session_started"'));
    expect(children).toHaveLength(spawned.length);
    for (const child of children) expect(child.last_run_status).not.toMatch(/^(running|pending)$/);
    for (const session of stranded) {
      expect(after.sessions.find((child) => child.id === session.id)).toMatchObject({
        last_run_status: 'error',
        last_run_error: 'child session run was interrupted before it ended (scheduler restart)',
      });
    }
    expect(existsSync(`${db}.lock`)).toBe(false);

    const table = await runCli(['status', '--db', db]);
    expect(table.stdout).toMatch(/^SESSION\s+KIND\s+PARENT\s+STATUS\s+UPDATED\s+TITLE\s+ERROR$/m);
    expect(table.stdout).not.toMatch(/\brunning\b/);
  });

  it('refuses a second scheduler on a file a live demo holds, and status then reconciles nothing', async () => {
    const db = tempDb();
    // Thirty children one at a time keep the demo alive far longer than the checks below take on
    // a loaded machine; it is interrupted (SIGINT, exit 130) once they are done.
    const demo = startCli(['demo', '--json', '--children', '30', '--concurrency', '1', '--seed', 'busy', '--db', db]);
    await demo.waitForLine(/"type":"sub_session_heartbeat"/, 'stdout');

    const second = await runCli(['demo', '--children', '1', '--db', db]);
    expect(second.code).toBe(2);
    expect(second.stderr.trim()).toMatch(/is in use by sprout demo \(pid \d+\); wait for it or use another --db$/);

    const status = JSON.parse((await runCli(['status', '--db', db, '--json'])).stdout) as StatusJson;
    expect(status.owner).toMatchObject({ command: 'demo', alive: true });
    expect(status.reconciled).toBeNull();
    // Live runs left as they are: some child still queued or running (with concurrency 1 there is a
    // moment between one child's end and the next one's start when none is `running`), none
    // ended as interrupted.
    expect(status.sessions.some((session) => session.last_run_status === 'running' || session.last_run_status === 'pending')).toBe(true);
    expect(status.sessions.filter((session) => session.last_run_error?.includes('interrupted'))).toEqual([]);

    demo.child.kill('SIGINT');
    expect(await demo.exited).toBe(130);
  });
});
