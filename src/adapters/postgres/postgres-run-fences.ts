import type { OpenRun, RunFence } from '../../api/ports.js';
import { namedStatement, type NamedStatement, type PostgresDatabase } from './postgres-database.js';

/**
 * The ownership tokens of distributed runs (table `run_fences`): who holds each run and at which
 * epoch. {@link claim} takes a run (a first claim gets epoch 1, each later one the next epoch);
 * the session store's and the event log's fenced writes check the epoch in the same statement
 * or transaction (row locked `FOR SHARE`), so a write of an owner that lost the run is refused
 * and a claim waits for a fenced write in flight: every write is either before the takeover or
 * refused.
 *
 * @example
 * const fences = new PostgresRunFences(store.database);
 * const fence = await fences.claim('run-1', 'worker-a'); // { runId: 'run-1', epoch: 1 }
 * await store.save(child, { fence });
 */
export class PostgresRunFences {
  readonly #db: PostgresDatabase;
  readonly #sql: { claim: string; claimAt: NamedStatement; current: string; claimAndInspect: NamedStatement };

  constructor(database: PostgresDatabase) {
    this.#db = database;
    const table = `${database.quoted}.run_fences`;
    this.#sql = {
      claim: `INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, 1)
              ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = ${table}.epoch + 1, claimed_at = now()
              RETURNING epoch`,
      claimAt: namedStatement(`INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, $3)
                ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, claimed_at = now()
                WHERE ${table}.epoch < excluded.epoch
                RETURNING epoch`),
      // The claim, the run's open-ledger row and the child's row, in one statement.
      claimAndInspect: namedStatement(`WITH claim AS (
                  INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, $3)
                  ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, claimed_at = now()
                  WHERE ${table}.epoch < excluded.epoch
                  RETURNING epoch
                )
                SELECT (SELECT epoch FROM claim) AS claimed,
                       (SELECT epoch FROM ${table} WHERE run_id = $1) AS stored_epoch,
                       o.parent_session_id, o.child_session_id, o.title, o.started_seq,
                       s.id AS child_id, s.last_run_status, s.metadata->>'last_run_id' AS last_run_id,
                       s.version AS child_version, s.data AS child_data
                FROM (SELECT 1) AS one
                LEFT JOIN ${database.quoted}.open_runs o ON o.run_id = $1
                LEFT JOIN ${database.quoted}.sessions s ON s.id = $4`),
      current: `SELECT owner, epoch FROM ${table} WHERE run_id = $1`,
    };
  }

  /** Takes the run for `owner` under a new epoch (every earlier token of the run stops working). */
  async claim(runId: string, owner: string): Promise<RunFence> {
    const [row] = await this.#db.query<{ epoch: string }>(this.#sql.claim, [runId, owner], `claiming run ${runId}`);
    return { runId, epoch: Number(row!.epoch) };
  }

  /**
   * Takes the run for `owner` at `epoch` (handed out by the queue's claim), only when the stored
   * epoch is lower: a worker whose claim is older than the run's current token gets `undefined`
   * and must leave the run alone.
   */
  async claimAt(runId: string, owner: string, epoch: number): Promise<RunFence | undefined> {
    const rows = await this.#db.query<{ epoch: string }>(this.#sql.claimAt, [runId, owner, epoch], `claiming run ${runId}`);
    return rows.length === 0 ? undefined : { runId, epoch };
  }

  /**
   * {@link claimAt}, and in the same statement what a worker taking the run must know: the run's
   * row in the open-run ledger (`open`: it was announced and never ended) and the child's stored
   * last run (`child`: id and status, `undefined` when the child is gone) with its row as the
   * statement saw it (`child.stored`: `version` and the undecoded `data`, for a worker that serves
   * it to the run's load instead of reading it again). `fence` is undefined when a newer claim
   * holds the run (`storedEpoch` then says which).
   */
  async claimAndInspect(
    runId: string,
    owner: string,
    epoch: number,
    childSessionId: string,
  ): Promise<{
    fence: RunFence | undefined;
    storedEpoch: number | undefined;
    open: OpenRun | undefined;
    child: ClaimedChild | undefined;
  }> {
    const [row] = await this.#db.query<InspectRow>(
      this.#sql.claimAndInspect,
      [runId, owner, epoch, childSessionId],
      `claiming run ${runId}`,
    );
    const open: OpenRun | undefined =
      row?.parent_session_id === null || row?.parent_session_id === undefined
        ? undefined
        : {
            runId,
            parentSessionId: row.parent_session_id,
            childSessionId: row.child_session_id ?? childSessionId,
            startedSeq: Number(row.started_seq),
            ...(row.title === null ? {} : { title: row.title }),
          };
    return {
      fence: row?.claimed === null || row?.claimed === undefined ? undefined : { runId, epoch },
      storedEpoch: row?.stored_epoch === null || row?.stored_epoch === undefined ? undefined : Number(row.stored_epoch),
      open,
      child:
        row?.child_id === null || row?.child_id === undefined
          ? undefined
          : {
              lastRunId: row.last_run_id ?? undefined,
              lastRunStatus: row.last_run_status ?? undefined,
              stored: { version: Number(row.child_version), data: row.child_data },
            },
    };
  }

  /** The run's current owner and epoch, or `undefined` when it was never claimed. */
  async current(runId: string): Promise<{ owner: string; epoch: number } | undefined> {
    const [row] = await this.#db.query<{ owner: string; epoch: string }>(this.#sql.current, [runId], `reading the owner of run ${runId}`);
    return row === undefined ? undefined : { owner: row.owner, epoch: Number(row.epoch) };
  }
}

/** The child of a claimed run as {@link PostgresRunFences.claimAndInspect} read it. */
export interface ClaimedChild {
  /** `metadata.last_run_id` of the stored child. */
  lastRunId: string | undefined;
  /** `last_run_status` of the stored child. */
  lastRunStatus: string | undefined;
  /** The child's row in the claim's snapshot: its `version` and its `data` (parsed JSON, not yet checked against the schema). */
  stored: { version: number; data: unknown };
}

interface InspectRow extends Record<string, unknown> {
  claimed: string | null;
  stored_epoch: string | null;
  parent_session_id: string | null;
  child_session_id: string | null;
  title: string | null;
  started_seq: string | null;
  child_id: string | null;
  last_run_status: string | null;
  last_run_id: string | null;
  child_version: number | null;
  child_data: unknown;
}
