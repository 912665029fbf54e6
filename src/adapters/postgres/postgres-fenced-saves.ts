/**
 * Group commit of fenced session saves (issue 19: fewer round trips). Every run saves its child
 * twice under its ownership token (`running`, then its end), and a worker runs many at once: saves
 * that arrive while earlier ones are being written wait, then go together in ONE statement over
 * arrays (`unnest`), each still checked on its own (its token, its expected version).
 */
import type { NamedStatement } from './postgres-database.js';
import { namedStatement } from './postgres-database.js';

/** One fenced save as the store built it. */
export interface FencedSaveRow {
  /** The session id (the first of `values`): two saves of one session never share a statement. */
  readonly id: string;
  /** The column values, in the store's column order. */
  readonly values: readonly unknown[];
  /** The version the writer read (`null`: whatever is stored, or insert). */
  readonly expected: number | null;
  readonly fenceRunId: string;
  readonly fenceEpoch: number;
}

/** What one fenced save did. */
export interface FencedSaveOutcome {
  /** The token was still the run's (`false`: nothing was written). */
  owned: boolean;
  /** The version written, or `undefined` when the expected version was stale (a conflict). */
  version: number | undefined;
}

/** Options of {@link PostgresFencedSaves}. */
export interface PostgresFencedSavesOptions {
  /** The batch statement ({@link fencedSaveBatchStatement}). */
  statement: NamedStatement;
  /** Runs the batch statement (rejects with the store's typed errors, the driver's as `cause`). */
  query(statement: NamedStatement, values: unknown[], what: string): Promise<Record<string, unknown>[]>;
  /** Saves one row alone (the single statement): a batch of one, and each save of a batch one row failed. */
  single(row: FencedSaveRow): Promise<FencedSaveOutcome>;
  /** Statements in flight at once (saves written alone after a failed batch do not count). @default 2 */
  lanes?: number;
  /** Saves per statement at most. @default 64 */
  maxBatch?: number;
}

interface Pending {
  row: FencedSaveRow;
  resolve: (outcome: FencedSaveOutcome) => void;
  reject: (error: unknown) => void;
}

/** How often a batch that a deadlock rolled back is run again. */
const DEADLOCK_ATTEMPTS = 5;

/**
 * SQLSTATE classes that say the server or the connection failed, not a row: the statement's saves
 * reject with it. Any other SQL error (a row's data, a trigger, a timeout) is isolated by saving
 * each row of the batch alone.
 */
const SERVICE_ERROR_CLASSES = new Set(['08', '53', '57', '58', 'XX']);

const sqlStateOf = (error: unknown): string | undefined => {
  const code = (error as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
};

/**
 * The one statement that writes a batch of fenced saves: `$1`…`$n` are the columns as arrays
 * (`jsonb` ones as text), then the expected versions, the fence run ids and epochs. A row is written
 * only while its run's `run_fences` epoch is the writer's (that row locked `FOR SHARE`), and only
 * at its expected version (absent: any version, or an insert). Answers one row per save, in order:
 * `owned`, and the version `updated` or `inserted` (both null: a conflict).
 *
 * @example
 * const statement = fencedSaveBatchStatement('"sprout".sessions', '"sprout".run_fences', [['id', 'text'], ['data', 'jsonb']]);
 */
export function fencedSaveBatchStatement(table: string, fences: string, columns: readonly (readonly [string, string])[]): NamedStatement {
  const n = columns.length;
  const names = columns.map(([name]) => name);
  const arrays = columns.map(([, type], i) => `$${i + 1}::${type === 'jsonb' ? 'text' : type}[]`).join(', ');
  const value = (i: number): string => (columns[i]![1] === 'jsonb' ? `i.${names[i]}::jsonb` : `i.${names[i]}`);
  const sets = names
    .slice(1)
    .map((name, k) => `${name} = ${value(k + 1)}`)
    .join(', ');
  return namedStatement(`WITH input AS (
            SELECT * FROM unnest(${arrays}, $${n + 1}::integer[], $${n + 2}::text[], $${n + 3}::bigint[])
              WITH ORDINALITY AS i(${names.join(', ')}, expected, fence_run, fence_epoch, n)
          ), fence AS (
            SELECT i.n FROM input i JOIN ${fences} f ON f.run_id = i.fence_run AND f.epoch = i.fence_epoch
            ORDER BY f.run_id FOR SHARE OF f
          ), updated AS (
            UPDATE ${table} s SET ${sets}, version = s.version + 1
            FROM input i
            WHERE s.id = i.id AND (i.expected IS NULL OR s.version = i.expected) AND i.n IN (SELECT n FROM fence)
            RETURNING i.n, s.version
          ), inserted AS (
            INSERT INTO ${table} (${names.join(', ')}, version)
            SELECT ${names.map((_, k) => value(k)).join(', ')}, 1 FROM input i
            WHERE i.n IN (SELECT n FROM fence) AND i.n NOT IN (SELECT n FROM updated)
            ORDER BY i.n
            ON CONFLICT (id) DO NOTHING RETURNING id, version
          )
          SELECT i.n, i.n IN (SELECT n FROM fence) AS owned, u.version AS updated, ins.version AS inserted
            FROM input i LEFT JOIN updated u ON u.n = i.n LEFT JOIN inserted ins ON ins.id = i.id
            ORDER BY i.n`);
}

/**
 * Fenced saves written together: a save goes out at once, alone, when one of the lanes is free;
 * saves that arrive while every lane is busy go in the next statement, many in one. Each save
 * keeps its own answer ({@link FencedSaveOutcome}); two saves of one session are written in call
 * order, never in one statement. A deadlock runs a batch again; an SQL error that is not the
 * server's or the connection's (a row's data, a trigger, a lock or statement timeout) fails only
 * its own row: each save of that batch is then written alone, outside the lanes; a failure of the
 * server or the connection rejects the saves of that statement.
 *
 * A statement waits on row locks like any other: a session row another transaction holds for long
 * holds back the saves that share its statement and, while every lane waits, the saves queued
 * behind them, until `lock_timeout` (5 s on the pools Sprout makes) ends the wait and they are
 * written alone.
 *
 * @example
 * const saves = new PostgresFencedSaves({ statement, query, single });
 * const { owned, version } = await saves.save(row);
 */
export class PostgresFencedSaves {
  readonly #o: Required<PostgresFencedSavesOptions>;
  readonly #queue: Pending[] = [];
  /** Sessions with a save being written now (in a statement, or alone). */
  readonly #writing = new Set<string>();
  #lanesBusy = 0;

  constructor(options: PostgresFencedSavesOptions) {
    this.#o = { lanes: 2, maxBatch: 64, ...options };
  }

  /** Queues `row`; resolves with what its save did, once written. */
  save(row: FencedSaveRow): Promise<FencedSaveOutcome> {
    return new Promise<FencedSaveOutcome>((resolve, reject) => {
      this.#queue.push({ row, resolve, reject });
      this.#pump();
    });
  }

  /** Starts statements while a lane is free and a queued save can go. */
  #pump(): void {
    while (this.#lanesBusy < this.#o.lanes) {
      const batch = this.#take();
      if (batch.length === 0) break;
      this.#lanesBusy++;
      void this.#write(batch).finally(() => {
        this.#lanesBusy--;
        this.#pump();
      });
    }
  }

  /** The next batch: queued saves in call order, skipping (for later) a session already written or taken. */
  #take(): Pending[] {
    const batch: Pending[] = [];
    const taken = new Set<string>();
    const blocked = new Set<string>();
    for (let i = 0; i < this.#queue.length && batch.length < this.#o.maxBatch;) {
      const pending = this.#queue[i]!;
      const id = pending.row.id;
      if (this.#writing.has(id) || taken.has(id) || blocked.has(id)) {
        // A later save of this session waits for the earlier one: order kept.
        blocked.add(id);
        i++;
        continue;
      }
      taken.add(id);
      this.#writing.add(id);
      batch.push(pending);
      this.#queue.splice(i, 1);
    }
    return batch;
  }

  /** Settles `pending` with `outcome` (or its failure) and lets the next save of its session go. */
  #done(pending: Pending, outcome: Promise<FencedSaveOutcome>): Promise<void> {
    return outcome.then(pending.resolve, pending.reject).finally(() => {
      this.#writing.delete(pending.row.id);
    });
  }

  /** Saves `pending` alone, outside the lanes (it may wait on a lock); its session waits for it. */
  #saveAlone(pending: Pending): void {
    void this.#done(pending, this.#o.single(pending.row)).finally(() => this.#pump());
  }

  /** Writes `batch` in one statement and settles each save (or hands them to {@link #saveAlone}). Never rejects. */
  async #write(batch: Pending[]): Promise<void> {
    if (batch.length === 1) {
      // One save: the single statement (cheaper to run than the batch one).
      await this.#done(batch[0]!, this.#o.single(batch[0]!.row));
      return;
    }
    const values = this.#values(batch);
    for (let attempt = 1; ; attempt++) {
      let rows: Record<string, unknown>[];
      try {
        rows = await this.#o.query(this.#o.statement, values, `saving ${batch.length} sessions`);
      } catch (error) {
        const state = sqlStateOf(error);
        if ((state === '40P01' || state === '40001') && attempt < DEADLOCK_ATTEMPTS) continue;
        if (state !== undefined && !SERVICE_ERROR_CLASSES.has(state.slice(0, 2))) {
          // One row failed the statement (nothing of it was written): each save alone, so only that one fails.
          for (const pending of batch) this.#saveAlone(pending);
          return;
        }
        const failed = Promise.reject(error instanceof Error ? error : new Error(String(error)));
        await Promise.all(batch.map((pending) => this.#done(pending, failed)));
        return;
      }
      const settling: Promise<void>[] = [];
      batch.forEach((pending, i) => {
        const row = rows[i];
        const version = row?.updated ?? row?.inserted;
        const outcome = { owned: row?.owned === true, version: version === null || version === undefined ? undefined : Number(version) };
        settling.push(this.#done(pending, Promise.resolve(outcome)));
      });
      await Promise.all(settling);
      return;
    }
  }

  /** The statement's arrays: one per column, then the expected versions and the tokens. */
  #values(batch: Pending[]): unknown[] {
    const width = batch[0]!.row.values.length;
    const columns: unknown[][] = Array.from({ length: width }, () => []);
    for (const { row } of batch) row.values.forEach((value, c) => columns[c]!.push(value));
    return [
      ...columns,
      batch.map(({ row }) => row.expected),
      batch.map(({ row }) => row.fenceRunId),
      batch.map(({ row }) => row.fenceEpoch),
    ];
  }
}
