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
  readonly #sql: { claim: string; current: string };

  constructor(database: PostgresDatabase) {
    this.#db = database;
    const table = `${database.quoted}.run_fences`;
    this.#sql = {
      claim: `INSERT INTO ${table} (run_id, owner, epoch) VALUES ($1, $2, 1)
              ON CONFLICT (run_id) DO UPDATE SET owner = excluded.owner, epoch = ${table}.epoch + 1, claimed_at = now()
              RETURNING epoch`,
      current: `SELECT owner, epoch FROM ${table} WHERE run_id = $1`,
    };
  }

  /** Takes the run for `owner` under a new epoch (every earlier token of the run stops working). */
  async claim(runId: string, owner: string): Promise<RunFence> {
    const [row] = await this.#db.query<{ epoch: string }>(this.#sql.claim, [runId, owner], `claiming run ${runId}`);
    return { runId, epoch: Number(row!.epoch) };
  }

  /** The run's current owner and epoch, or `undefined` when it was never claimed. */
  async current(runId: string): Promise<{ owner: string; epoch: number } | undefined> {
    const [row] = await this.#db.query<{ owner: string; epoch: string }>(this.#sql.current, [runId], `reading the owner of run ${runId}`);
    return row === undefined ? undefined : { owner: row.owner, epoch: Number(row.epoch) };
  }
}
