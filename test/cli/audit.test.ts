import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteAuditReader } from '../../src/adapters/sqlite/sqlite-audit-reader.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { EventLogAuditor, type AuditReport } from '../../src/audit/event-log-audit.js';
import type { CliIo } from '../../src/cli/cli-io.js';
import { runCli } from '../../src/cli/run-cli.js';
import { toRfc3339 } from '../../src/clock.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

const START = Date.UTC(2026, 0, 1);
let dir: string;
let healthy: string;
/** The simulated time the scheduler stopped at (heartbeat timestamps are on this clock). */
let endedAt: number;

/** A real database: the scheduler ran a root with three children (one of them with a child of its own), then stopped. */
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sprout-audit-'));
  healthy = join(dir, 'healthy.db');
  const store = new SqliteSessionStore({ path: healthy });
  const h = await createHarness({
    store,
    seed: [rootSession(), childSession('c1'), childSession('c2'), childSession('c3'), childSession('g1', 'c1', { spawn_depth: 2 })],
    agent: {
      scripts: {
        c1: [{ tokens: 'working on it', every: 100 }, { wait: 3000 }],
        c2: [{ wait: 500 }, { fail: 'tool exploded' }],
        c3: [{ hang: true }],
      },
      usage: { prompt_tokens: 3, completion_tokens: 2 },
    },
    scheduler: { heartbeatIntervalMs: 1000 },
  });
  const clock = h.clock;
  clock.set(START);
  for (const child of ['c1', 'c2', 'c3']) await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: child, model: 'm' });
  await h.advance(1000);
  await h.scheduler.enqueue({ parentSessionId: 'c1', childSessionId: 'g1', model: 'm' });
  await h.scheduler.cancel('c3');
  await h.until(() => h.completions().length === 3, 'three children ended');
  endedAt = clock.now();
  await h.scheduler.stop();
  store.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A copy of the healthy database, changed by `seed` (raw SQL: the test breaks what the log never would). */
function broken(name: string, seed: (db: Database.Database) => void): string {
  const path = join(dir, `${name}.db`);
  copyFileSync(healthy, path);
  const db = new Database(path);
  seed(db);
  db.close();
  return path;
}

/** Audits a file with the pure auditor, at `now` on the scheduler's clock. */
function audit(path: string, now = endedAt): AuditReport {
  const db = new Database(path, { readonly: true });
  const reader = sqliteAuditReader(db);
  const auditor = new EventLogAuditor(reader.ledger(), { now, heartbeatIntervalMs: 1000 });
  for (const row of reader.rows()) auditor.push(row);
  const report = auditor.finish(reader.abandoned(auditor.childrenUnderEndedParents()));
  reader.close();
  db.close();
  return report;
}

const kinds = (report: AuditReport) => Object.keys(report.counts).sort();

/** The seq of a session's first event of this type for this child. */
function seqOf(db: Database.Database, sessionId: string, type: string, child: string): number {
  const row = db
    .prepare(
      "SELECT seq FROM events WHERE session_id = ? AND json_extract(json, '$.type') = ? AND json_extract(json, '$.child_session_id') = ?",
    )
    .get(sessionId, type, child) as { seq: number };
  return row.seq;
}

function append(db: Database.Database, sessionId: string, event: object): void {
  const { last } = db.prepare('SELECT last_seq AS last FROM event_seqs WHERE session_id = ?').get(sessionId) as { last: number };
  db.prepare('INSERT INTO events (session_id, seq, json) VALUES (?, ?, ?)').run(sessionId, last + 1, JSON.stringify(event));
  db.prepare('UPDATE event_seqs SET last_seq = ? WHERE session_id = ?').run(last + 1, sessionId);
}

function openRun(db: Database.Database, runId: string, parent: string, child: string): void {
  db.prepare('INSERT INTO open_runs (run_id, parent_session_id, child_session_id, started_seq) VALUES (?, ?, ?, 1)').run(
    runId,
    parent,
    child,
  );
}

const TOKEN = JSON.stringify({ type: 'token', content: 'x' });

describe('sprout audit on a SQLite database the scheduler wrote', () => {
  it('finds nothing in a healthy database', () => {
    const report = audit(healthy);
    expect(report.findings).toEqual([]);
    expect(report.scanned.events).toBeGreaterThan(20);
    expect(report.scanned.openRuns).toBe(0);
  });

  it.each([
    ['seq_gap', (db: Database.Database) => db.prepare("DELETE FROM events WHERE session_id = 'root' AND seq = 3").run()],
    [
      'seq_counter_mismatch',
      (db: Database.Database) => db.prepare("UPDATE event_seqs SET last_seq = last_seq + 5 WHERE session_id = 'c1'").run(),
    ],
    [
      'completion_without_start',
      (db: Database.Database) =>
        db
          .prepare("UPDATE events SET json = ? WHERE session_id = 'root' AND seq = ?")
          .run(TOKEN, seqOf(db, 'root', 'sub_session_started', 'c2')),
    ],
    [
      'lost_run',
      (db: Database.Database) =>
        db
          .prepare("UPDATE events SET json = ? WHERE session_id = 'root' AND seq = ?")
          .run(TOKEN, seqOf(db, 'root', 'sub_session_completed', 'c2')),
    ],
    [
      'duplicate_completion',
      (db: Database.Database) => {
        const { json } = db
          .prepare("SELECT json FROM events WHERE session_id = 'root' AND seq = ?")
          .get(seqOf(db, 'root', 'sub_session_completed', 'c1')) as { json: string };
        append(db, 'root', JSON.parse(json) as object);
      },
    ],
    [
      'ledger_run_completed',
      (db: Database.Database) => {
        const { json } = db
          .prepare("SELECT json FROM events WHERE session_id = 'root' AND seq = ?")
          .get(seqOf(db, 'root', 'sub_session_completed', 'c1')) as { json: string };
        openRun(db, (JSON.parse(json) as { run_id: string }).run_id, 'root', 'c1');
      },
    ],
  ])('finds %s', (kind, seed) => {
    const report = audit(broken(kind, seed));
    expect(kinds(report)).toContain(kind);
    expect(report.findings.find((finding) => finding.kind === kind)?.detail).toMatch(/\w/);
  });

  it('finds an open run past --max-run-ms and one whose heartbeats went stale', () => {
    const path = broken('open-runs', (db) => {
      db.prepare(
        "INSERT INTO sessions (id, kind, parent_session_id, root_session_id, spawn_depth, created_at, updated_at, version, json) SELECT 'c9', kind, parent_session_id, root_session_id, spawn_depth, created_at, updated_at, version, json FROM sessions WHERE id = 'c1'",
      ).run();
      for (const [run, child, beats] of [
        ['r-long', 'c8', [endedAt - 26 * 3_600_000, endedAt - 500]],
        ['r-stale', 'c9', [endedAt - 60_000, endedAt - 20_000]],
      ] as const) {
        append(db, 'root', { type: 'sub_session_started', parent_session_id: 'root', child_session_id: child, run_id: run });
        for (const at of beats)
          append(db, 'root', {
            type: 'sub_session_heartbeat',
            parent_session_id: 'root',
            child_session_id: child,
            run_id: run,
            timestamp: toRfc3339(at),
            events_seen: 0,
          });
        openRun(db, run, 'root', child);
      }
    });
    const report = audit(path);
    expect(report.findings.map((f) => [f.kind, f.runId])).toEqual([
      ['run_open_too_long', 'r-long'],
      ['stale_heartbeat', 'r-stale'],
    ]);
  });

  it('finds a run still open under a parent whose run was cancelled, unless it was spawned with abandon', () => {
    const seed = (abandon: boolean) => (db: Database.Database) => {
      // c3's run ended cancelled: its child g3 still has an open run.
      openRun(db, 'r-g3', 'c3', abandon ? 'g1' : 'g3');
      if (abandon) db.prepare("UPDATE sessions SET json = json_set(json, '$.metadata.on_parent_end', 'abandon') WHERE id = 'g1'").run();
    };
    const cancelled = audit(broken('under-cancelled', seed(false)));
    expect(cancelled.findings).toEqual([
      expect.objectContaining({
        kind: 'open_under_ended_parent',
        runId: 'r-g3',
        sessionId: 'c3',
        detail: "still open while its parent's last run ended cancelled",
      }),
    ]);
    expect(audit(broken('under-cancelled-abandon', seed(true))).findings).toEqual([]);
  });
});

describe('sprout audit command', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    const cli: CliIo = {
      stdout: { write: (text: string) => ((out.stdout += text), true) },
      stderr: { write: (text: string) => ((out.stderr += text), true) },
      onInterrupt: () => () => {},
    };
    return { out, cli };
  };

  it('exits 0 on a healthy database, 1 with a table or JSON of the findings', async () => {
    const ok = io();
    expect(await runCli(['audit', '--db', healthy], ok.cli)).toBe(0);
    expect(ok.out.stdout).toMatch(/healthy: no broken invariant/);
    const path = broken('cli-gap', (db) => db.prepare("DELETE FROM events WHERE session_id = 'c1' AND seq = 2").run());
    const table = io();
    expect(await runCli(['audit', '--db', path], table.cli)).toBe(1);
    expect(table.out.stdout).toMatch(/^finding\s+stream\s+run\s+seq\s+detail/);
    expect(table.out.stdout).toMatch(/seq_gap\s+c1/);
    const json = io();
    expect(await runCli(['audit', '--db', path, '--json'], json.cli)).toBe(1);
    expect(JSON.parse(json.out.stdout)).toMatchObject({
      total: 1,
      counts: { seq_gap: 1 },
      findings: [{ kind: 'seq_gap', sessionId: 'c1', seq: 3, detail: 'seq 2 missing inside the retained range' }],
    });
  });

  it('exits 2 on bad flags, a missing file and an unreachable PostgreSQL', async () => {
    for (const argv of [['audit'], ['audit', '--db', 'a.db', '--postgres', 'postgres://x/y'], ['audit', '--db', join(dir, 'nope.db')]]) {
      const run = io();
      expect(await runCli(argv, run.cli)).toBe(2);
      expect(run.out.stderr.trim().split('\n')).toHaveLength(1);
    }
    const away = io();
    expect(await runCli(['audit', '--postgres', 'postgres://root@127.0.0.1:1/postgres'], away.cli)).toBe(2);
    expect(away.out.stderr).toMatch(/^sprout: cannot read the PostgreSQL event log/);
  });
});
