import type { OpenRun } from '../../api/ports.js';
import { namedStatement, type PostgresDatabase } from './postgres-database.js';

interface OpenRunRow {
  run_id: string;
  parent_session_id: string;
  child_session_id: string;
  title: string | null;
  started_seq: string | number;
}

/** What the ledger waits for before a question: the appends made before it (read your writes). */
export interface PostgresLedgerWrites {
  flush(): Promise<void>;
}

/**
 * The durable run ledger of the PostgreSQL event log (table `open_runs`): a run is opened by its
 * `sub_session_started` and closed by its `sub_session_completed`, written by `append_events`
 * (migration 6) in the same statement as the events. It answers the whole list ({@link list},
 * what start-up recovery reads) and point questions by run id ({@link openRun},
 * {@link wasAnnounced}, what a distributed worker taking one job asks).
 *
 * @example
 * const ledger = new PostgresRunLedger(store.database, log);
 * if (await ledger.openRun(runId)) closeIt();
 */
export class PostgresRunLedger {
  readonly #db: PostgresDatabase;
  readonly #writes: PostgresLedgerWrites | undefined;
  readonly #sql;

  /** @param writes the log whose appends a question waits for (omitted: asks at once). */
  constructor(database: PostgresDatabase, writes?: PostgresLedgerWrites) {
    this.#db = database;
    this.#writes = writes;
    const s = database.quoted;
    this.#sql = {
      list: `SELECT run_id, parent_session_id, child_session_id, title, started_seq FROM ${s}.open_runs ORDER BY position`,
      one: namedStatement(`SELECT run_id, parent_session_id, child_session_id, title, started_seq FROM ${s}.open_runs WHERE run_id = $1`),
      started: namedStatement(`SELECT 1 AS started FROM ${s}.events
                WHERE session_id = $1 AND event->>'type' = 'sub_session_started' AND event->>'run_id' = $2 LIMIT 1`),
    };
  }

  /**
   * Every open run, in announcement order, across every process writing the schema.
   *
   * @example
   * for (const run of await ledger.list()) console.log(run.runId);
   */
  async list(): Promise<OpenRun[]> {
    await this.#writes?.flush();
    const rows = await this.#db.query<OpenRunRow & Record<string, unknown>>(this.#sql.list, [], 'listing open runs');
    return rows.map(toOpenRun);
  }

  /**
   * The run if it was announced and has not ended (after the pending appends are written).
   *
   * @example
   * const open = await ledger.openRun('r1');
   */
  async openRun(runId: string): Promise<OpenRun | undefined> {
    await this.#writes?.flush();
    const [row] = await this.#db.query<OpenRunRow & Record<string, unknown>>(this.#sql.one, [runId], `looking up open run ${runId}`);
    return row === undefined ? undefined : toOpenRun(row);
  }

  /**
   * True when the parent's retained stream holds the run's `sub_session_started` (it was announced once).
   *
   * @example
   * if (await ledger.wasAnnounced('p', 'r1')) skipIt();
   */
  async wasAnnounced(parentSessionId: string, runId: string): Promise<boolean> {
    await this.#writes?.flush();
    const rows = await this.#db.query(this.#sql.started, [parentSessionId, runId], `looking up the announcement of run ${runId}`);
    return rows.length > 0;
  }
}

function toOpenRun(row: OpenRunRow): OpenRun {
  const run: OpenRun = {
    runId: row.run_id,
    parentSessionId: row.parent_session_id,
    childSessionId: row.child_session_id,
    startedSeq: Number(row.started_seq),
  };
  if (row.title !== null) run.title = row.title;
  return run;
}
