import type { OpenRun } from '../api/ports.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresDatabase } from '../adapters/postgres/postgres-database.js';

interface OpenRunRow {
  run_id: string;
  parent_session_id: string;
  child_session_id: string;
  title: string | null;
  started_seq: string | number;
}

/**
 * Point questions about the durable run ledger the PostgreSQL event log keeps (`open_runs`, and the
 * retained `events`), by run id — the log's `openRuns()` lists every open run, which a worker
 * taking one job does not need.
 *
 * @example
 * const ledger = new PostgresRunLedger(store.database, log);
 * if (await ledger.openRun(runId)) closeIt();
 */
export class PostgresRunLedger {
  readonly #db: PostgresDatabase;
  readonly #log: PostgresEventLog;
  readonly #sql: { open: string; started: string };

  constructor(database: PostgresDatabase, log: PostgresEventLog) {
    this.#db = database;
    this.#log = log;
    const s = database.quoted;
    this.#sql = {
      open: `SELECT run_id, parent_session_id, child_session_id, title, started_seq FROM ${s}.open_runs WHERE run_id = $1`,
      started: `SELECT 1 AS started FROM ${s}.events
                WHERE session_id = $1 AND event->>'type' = 'sub_session_started' AND event->>'run_id' = $2 LIMIT 1`,
    };
  }

  /** The run if it was announced and has not ended (after this process's pending appends are written). */
  async openRun(runId: string): Promise<OpenRun | undefined> {
    await this.#log.flush();
    const [row] = await this.#db.query<OpenRunRow & Record<string, unknown>>(this.#sql.open, [runId], `looking up open run ${runId}`);
    if (!row) return undefined;
    const run: OpenRun = {
      runId: row.run_id,
      parentSessionId: row.parent_session_id,
      childSessionId: row.child_session_id,
      startedSeq: Number(row.started_seq),
    };
    if (row.title !== null) run.title = row.title;
    return run;
  }

  /** True when the parent's retained stream holds the run's `sub_session_started` (it was announced once). */
  async wasAnnounced(parentSessionId: string, runId: string): Promise<boolean> {
    await this.#log.flush();
    const rows = await this.#db.query(this.#sql.started, [parentSessionId, runId], `looking up the announcement of run ${runId}`);
    return rows.length > 0;
  }
}
