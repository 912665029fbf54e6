import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import type { RecoveryReport } from '../api/scheduler-types.js';
import { SQLITE_MIGRATIONS } from '../adapters/sqlite/sqlite-session-store.js';
import { excerpt } from './child-progress.js';
import { acquireDbLease, readDbOwner, type DbOwner } from './db-lease.js';
import type { TextOut } from './demo-view.js';
import { formatTable } from './format-table.js';
import { listAllSessions, type SessionListing } from './list-sessions.js';
import { openDatabase } from './open-database.js';
import type { StatusOptions } from './parse-args.js';
import { reconcileRuns } from './reconcile-runs.js';
import { CliUsageError, EXIT } from './cli-error.js';
import { probeDatabase, refuseForeignDatabase } from './probe-database.js';

/** What `sprout status --json` prints (one JSON document). */
export interface StatusReport {
  db: string;
  /** The live process that holds the file, if any (then nothing was reconciled). */
  owner: DbOwner | null;
  /** Runs this command ended as interrupted (null: it did not reconcile). */
  reconciled: { interrupted: string[]; failed: string[] } | null;
  sessions: SessionListing[];
}

/** Sessions in tree order (each root followed by its descendants), with their depth. */
function inTreeOrder(sessions: readonly SessionListing[]): { session: SessionListing; depth: number }[] {
  const ids = new Set(sessions.map((session) => session.id));
  const children = new Map<string, SessionListing[]>();
  for (const session of sessions) {
    const parent = session.parent_session_id;
    if (parent !== null && ids.has(parent)) children.set(parent, [...(children.get(parent) ?? []), session]);
  }
  const out: { session: SessionListing; depth: number }[] = [];
  const visit = (session: SessionListing, depth: number): void => {
    out.push({ session, depth });
    for (const child of children.get(session.id) ?? []) visit(child, depth + 1);
  };
  for (const session of sessions) if (session.parent_session_id === null || !ids.has(session.parent_session_id)) visit(session, 0);
  return out;
}

function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  const counts = new Map<string, number>();
  for (const session of report.sessions)
    if (session.kind === 'child') counts.set(session.last_run_status ?? 'none', (counts.get(session.last_run_status ?? 'none') ?? 0) + 1);
  const tally = [...counts].map(([status, n]) => `${n} ${status}`).join(', ');
  lines.push(
    `${report.db}: ${report.sessions.length} session${report.sessions.length === 1 ? '' : 's'}${tally === '' ? '' : ` (children: ${tally})`}`,
  );
  if (report.owner?.alive === true)
    lines.push(`in use by sprout ${report.owner.command} (pid ${report.owner.pid}): its running runs are live, nothing was reconciled`);
  if (report.reconciled && report.reconciled.interrupted.length > 0) {
    lines.push(`reconciled ${report.reconciled.interrupted.length} run(s) a killed process left behind: now error (interrupted)`);
  }
  if (report.reconciled && report.reconciled.failed.length > 0) lines.push(`could not reconcile: ${report.reconciled.failed.join(', ')}`);
  if (report.sessions.length === 0) return lines.join('\n');
  const rows = inTreeOrder(report.sessions).map(({ session, depth }) => [
    `${'  '.repeat(depth)}${session.id.slice(0, 8)}`,
    session.kind,
    session.parent_session_id?.slice(0, 8) ?? '-',
    session.last_run_status ?? '-',
    session.updated_at,
    excerpt(session.title, 28),
    session.invalid === undefined ? excerpt(session.last_run_error ?? '', 60) : `invalid row: ${excerpt(session.invalid, 48)}`,
  ]);
  lines.push('', formatTable(['SESSION', 'KIND', 'PARENT', 'STATUS', 'UPDATED', 'TITLE', 'ERROR'], rows));
  return lines.join('\n');
}

/**
 * `sprout status --db PATH [--json] [--read-only]`: every session in the file with its kind,
 * parent, `last_run_status`, `last_run_error` and update time. Unless the file is in use by a
 * live `sprout` process (or `--read-only`), it first starts a scheduler on the file, which ends
 * the runs a killed process left `running`/`pending` (reason `interrupted`). `--read-only` opens
 * the file read-only (it works on a read-only filesystem) and changes nothing. A file that is not
 * a Sprout database is refused (exit 2) and left untouched.
 *
 * @example
 * process.exitCode = await runStatus({ command: 'status', db: '.sprout/sprout.db', json: false, readOnly: false }, process.stdout);
 */
export async function runStatus(options: StatusOptions, stdout: TextOut): Promise<number> {
  // Read-only, and for a file with no tables at all: status never creates Sprout's schema.
  if (options.readOnly || (existsSync(options.db) && probeDatabase(options.db).kind === 'empty')) return listReadOnly(options, stdout);
  const db = openDatabase(options.db, { mustExist: true, command: 'status' });
  try {
    const owner = readDbOwner(options.db);
    let recovery: RecoveryReport | undefined;
    if (!options.readOnly && owner?.alive !== true) {
      const lease = acquireDbLease(options.db, 'status');
      try {
        recovery = await reconcileRuns(db);
      } finally {
        lease.release();
      }
    }
    const report: StatusReport = {
      db: options.db,
      owner: owner?.alive === true ? owner : null,
      reconciled: recovery ? { interrupted: recovery.interrupted, failed: recovery.failed } : null,
      sessions: listAllSessions(db.store),
    };
    stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
    return EXIT.ok;
  } finally {
    db.close();
  }
}

/** `--read-only`: a read-only SQLite connection, no schema migration, no lease, no reconciling. */
function listReadOnly(options: StatusOptions, stdout: TextOut): number {
  if (!existsSync(options.db)) throw new CliUsageError(`no database at ${options.db} (run "sprout demo --db ${options.db}" to create one)`);
  const probe = probeDatabase(options.db);
  refuseForeignDatabase(options.db, probe, 'status');
  if (probe.kind === 'unreadable') throw new CliUsageError(`${options.db} is not a usable Sprout database: ${probe.reason}`);
  if (probe.kind === 'sprout' && probe.version > SQLITE_MIGRATIONS.length) {
    throw new CliUsageError(
      `${options.db} has schema version ${probe.version}, newer than the ${SQLITE_MIGRATIONS.length} this Sprout knows`,
    );
  }
  let sessions: SessionListing[] = [];
  if (probe.kind === 'sprout') {
    const database = new Database(options.db, { readonly: true, fileMustExist: true });
    try {
      sessions = listAllSessions({ database });
    } finally {
      database.close();
    }
  }
  const owner = readDbOwner(options.db);
  const report: StatusReport = { db: options.db, owner: owner?.alive === true ? owner : null, reconciled: null, sessions };
  stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatStatus(report)}\n`);
  return EXIT.ok;
}
