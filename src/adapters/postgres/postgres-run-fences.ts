import type { RunFence } from '../../api/ports.js';
import type { PostgresDatabase } from './postgres-database.js';

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
  readonly #sql: { claim: string; claimAt: string; current: string };

  constructor(database: PostgresDatabase) {
    this.#db = database;
    const table = `${database.quoted}.run_fences`;
    this.#sql = {
      claim: `INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, 1)
              ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = ${table}.epoch + 1, claimed_at = now()
              RETURNING epoch`,
      claimAt: `INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, $3)
                ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = excluded.epoch, claimed_at = now()
                WHERE ${table}.epoch < excluded.epoch
                RETURNING epoch`,
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

  /** The run's current owner and epoch, or `undefined` when it was never claimed. */
  async current(runId: string): Promise<{ owner: string; epoch: number } | undefined> {
    const [row] = await this.#db.query<{ owner: string; epoch: string }>(this.#sql.current, [runId], `reading the owner of run ${runId}`);
    return row === undefined ? undefined : { owner: row.owner, epoch: Number(row.epoch) };
  }
}
