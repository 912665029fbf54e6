/**
 * audit: `sprout audit` over a SQLite file of 1,000,000 events (issue 22 item 4): the reader's
 * cursor and the pure auditor, one pass, timed per run (ms and events/s) with the peak heap
 * growth sampled during the pass. The file is written through `SqliteEventLog` (10,000 runs: on
 * the parent's stream a start, two heartbeats, 60 forwarded tokens and a completion; 36 tokens
 * on the child's own stream: 100 events a run, 10 runs per root).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { sqliteAuditReader } from '../../src/adapters/sqlite/sqlite-audit-reader.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { EventLogAuditor } from '../../src/audit/event-log-audit.js';
import { heapAfterGc } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';

const EVENTS_PER_RUN = 100;

/** Writes `runs` runs' events through the SQLite event log. */
function seed(path: string, runs: number): void {
  const store = new SqliteSessionStore(path);
  const log = new SqliteEventLog(store, { retention: 1000 });
  const at = Date.UTC(2026, 0, 1);
  for (let r = 0; r < runs; r++) {
    const root = `root-${Math.floor(r / 10)}`;
    const ids = { parent_session_id: root, child_session_id: `child-${r}`, run_id: `run-${r}` };
    log.append(root, { type: 'sub_session_started', ...ids });
    for (let b = 0; b < 2; b++)
      log.append(root, { type: 'sub_session_heartbeat', ...ids, timestamp: new Date(at + r * 10 + b).toISOString(), events_seen: b });
    for (let t = 0; t < 60; t++) log.append(root, { type: 'sub_session_event', ...ids, event: { type: 'token', content: `token ${t} ` } });
    for (let t = 0; t < 36; t++) log.append(ids.child_session_id, { type: 'token', content: `token ${t} ` });
    log.append(root, { type: 'sub_session_completed', ...ids, status: 'completed', result: 'done' });
  }
  log.flush();
  log.close();
  store.close();
}

/** One audit of the file: elapsed ms, events read, findings, peak heap growth (sampled every 50,000 rows). */
async function auditOnce(path: string): Promise<{ ms: number; events: number; findings: number; heapMb: number }> {
  const before = await heapAfterGc();
  let peak = before;
  const start = performance.now();
  const db = new Database(path, { readonly: true });
  const reader = sqliteAuditReader(db);
  const auditor = new EventLogAuditor(reader.ledger(), { now: Date.UTC(2026, 0, 1) });
  let rows = 0;
  for (const row of reader.rows()) {
    auditor.push(row);
    if (++rows % 50_000 === 0) peak = Math.max(peak, process.memoryUsage().heapUsed);
  }
  const report = auditor.finish();
  reader.close();
  db.close();
  return { ms: performance.now() - start, events: report.scanned.events, findings: report.total, heapMb: (peak - before) / 1e6 };
}

/** The audit scenario. */
export async function audit(config: BenchConfig): Promise<ScenarioOutput> {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-audit-'));
  try {
    const runs = config.count(10_000, 10);
    const path = join(dir, 'audit.db');
    const seeding = performance.now();
    seed(path, runs);
    const notes = [`${runs * EVENTS_PER_RUN} events (${runs} runs) written in ${((performance.now() - seeding) / 1000).toFixed(1)} s`];
    if (config.mode !== 'smoke') await auditOnce(path); // warm-up
    const results: Awaited<ReturnType<typeof auditOnce>>[] = [];
    for (let i = 0; i < config.runs; i++) results.push(await auditOnce(path));
    const findings = results.map((result) => result.findings).filter((count) => count > 0);
    if (findings.length > 0) notes.push(`unexpected findings on a healthy log: ${findings.join(', ')}`);
    const events = results[0]?.events ?? 0;
    const row = (metric: string, unit: string, samples: number[]): Metric => ({ scenario: 'audit', metric, unit, samples });
    return {
      metrics: [
        row(
          `sprout audit, SQLite, ${events} events`,
          'ms',
          results.map((result) => result.ms),
        ),
        row(
          'events audited per second',
          'events/s',
          results.map((result) => result.events / (result.ms / 1000)),
        ),
        row(
          'peak heap growth during the pass',
          'MB',
          results.map((result) => result.heapMb),
        ),
      ],
      notes,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
