import type { AuditEventRow, AuditLedgerRun } from '../../audit/event-log-audit.js';
import { StoreUnavailableError } from '../../errors.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/** The schema version that has the run ledger (`open_runs`): migration 3. */
const LEDGER_VERSION = 3;

/** What {@link sqliteAuditReader} reads, all inside one read transaction (one snapshot). */
export interface SqliteAuditReader {
  /** The run ledger (`open_runs`). */
  ledger(): AuditLedgerRun[];
  /** Every event in `(session_id, seq)` order, streamed (a cursor); JSON only for rows that may be sub-session events. */
  rows(): IterableIterator<AuditEventRow>;
  /** Of these child sessions, the ones spawned with `onParentEnd: 'abandon'` (metadata `on_parent_end`). */
  abandoned(childSessionIds: readonly string[]): Set<string>;
  /** Ends the read transaction. */
  close(): void;
}

interface EventRow {
  session_id: string;
  seq: number;
  last_seq: number | null;
  json: string | null;
}

/**
 * Reads a SQLite event log and run ledger for `sprout audit`, read-only and in one snapshot
 * (a deferred transaction held until `close`). The events come from a cursor over the primary
 * key, so memory stays flat however many there are; the JSON of a row is only fetched when it
 * may be a sub-session event. Throws {@link StoreUnavailableError} for a file without the ledger.
 *
 * @example
 * const db = new Database('sprout.db', { readonly: true, fileMustExist: true });
 * const reader = sqliteAuditReader(db);
 * const auditor = new EventLogAuditor(reader.ledger(), { now: Date.now() });
 * for (const row of reader.rows()) auditor.push(row);
 */
export function sqliteAuditReader(db: SqliteDatabase): SqliteAuditReader {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version < LEDGER_VERSION)
    throw new StoreUnavailableError(`${db.name} has schema version ${version}: no event log with a run ledger to audit`);
  db.exec('BEGIN');
  return {
    ledger: () =>
      (
        db.prepare('SELECT run_id, parent_session_id, child_session_id, started_seq FROM open_runs ORDER BY run_id').all() as {
          run_id: string;
          parent_session_id: string;
          child_session_id: string;
          started_seq: number;
        }[]
      ).map((row) => ({
        runId: row.run_id,
        parentSessionId: row.parent_session_id,
        childSessionId: row.child_session_id,
        startedSeq: row.started_seq,
      })),
    *rows() {
      const cursor = db
        .prepare(
          `SELECT e.session_id, e.seq, s.last_seq,
             CASE WHEN instr(e.json, 'sub_session_started') > 0 OR instr(e.json, 'sub_session_completed') > 0
                    OR instr(e.json, 'sub_session_heartbeat') > 0 THEN e.json END AS json
           FROM events e LEFT JOIN event_seqs s ON s.session_id = e.session_id
           ORDER BY e.session_id, e.seq`,
        )
        .iterate() as IterableIterator<EventRow>;
      for (const row of cursor)
        yield { sessionId: row.session_id, seq: row.seq, lastSeq: row.last_seq ?? undefined, json: row.json ?? undefined };
    },
    abandoned: (childSessionIds) => {
      const query = db.prepare("SELECT json_extract(json, '$.metadata.on_parent_end') AS mode FROM sessions WHERE id = ?");
      const out = new Set<string>();
      for (const id of childSessionIds) if ((query.get(id) as { mode: unknown } | undefined)?.mode === 'abandon') out.add(id);
      return out;
    },
    close: () => {
      if (db.inTransaction) db.exec('COMMIT');
    },
  };
}
