import { z } from 'zod';
import { agentEventSchema } from '../../../machines/agent-event.events.js';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { InvalidSessionDataError, SproutError, SproutValidationError, StoreUnavailableError } from '../../errors.js';
import { migrateSqliteSchema, type SqliteDatabase } from './sqlite-schema.js';

/**
 * An open SQLite database that an event log can share: what `SqliteSessionStore` offers (its
 * connection, migrated, and a hook that runs before it closes).
 *
 * @example
 * const log = new SqliteEventLog(new SqliteSessionStore({ path: 'sprout.db' }));
 */
export interface SqliteDatabaseOwner {
  /** The connection, already migrated to the latest schema. */
  readonly database: SqliteDatabase;
  /** Registers a hook that runs before the connection closes. */
  beforeClose(hook: () => void): void;
}

const isOwner = (source: SqliteDatabaseOwner | SqliteDatabase): source is SqliteDatabaseOwner =>
  typeof (source as Partial<SqliteDatabaseOwner>).beforeClose === 'function' && 'database' in source;
import type { EventLog, EventLogCapabilities, EventLogReadResult, OpenRun } from '../../streams/event-log.js';
import { ledgerChange, type LedgerChange } from '../../streams/ledger-change.js';
import { runIndexChange, type RunIndexChange } from '../../streams/run-index-change.js';
import { systemClock, toRfc3339 } from '../../clock.js';
import { SqliteRunIndexWriter } from './sqlite-run-index.js';

/**
 * Options of {@link SqliteEventLog}.
 *
 * @example
 * const options: SqliteEventLogOptions = { retention: 1000, retentionFor: (id) => (id.startsWith('root') ? 5000 : 1000) };
 */
export interface SqliteEventLogOptions {
  /** Envelopes kept per session for replay; `0` keeps none (seq still counts). @default 1000 */
  retention?: number;
  /** Per-session retention, asked once per session per process; overrides `retention`. @default undefined */
  retentionFor?: (sessionId: string) => number;
  /**
   * `true`: appends are queued and written in one transaction once per event-loop turn (group
   * commit on `setImmediate`, in append order; or at once when {@link MAX_PENDING} are queued); `false`: every append is its own
   * transaction. Reads always see queued appends. @default true
   */
  batch?: boolean;
  /**
   * Called for every stored event that `read` skipped because it fails the schema. Skipped rows
   * are also kept in {@link SqliteEventLog.invalidRows}. @default undefined
   */
  onInvalidRow?: (error: InvalidSessionDataError) => void;
  /**
   * Called when a background (group commit) flush fails; the events stay queued and are retried
   * by the next flush. @default rethrows the error asynchronously (an uncaught exception)
   */
  onError?: (error: StoreUnavailableError) => void;
}

/**
 * Queued appends that force a synchronous flush, bounding memory in a tight append loop.
 *
 * @example
 * for (let i = 0; i < MAX_PENDING; i++) log.append('s', event); // the last append flushes
 */
export const MAX_PENDING = 10_000;

const retentionSchema = z.number().int().nonnegative();

/** Rows per multi-row INSERT (3 parameters each, well under SQLite's 32,766). */
const INSERT_CHUNK = 128;
const optionsSchema = z.object({ retention: retentionSchema.optional(), batch: z.boolean().optional() });

interface Stream {
  lastSeq: number;
  retention: number;
  /** Rows with seq <= this are known deleted. */
  prunedThrough: number;
}

interface PendingRow {
  sessionId: string;
  seq: number;
  json: string;
}

/**
 * A durable {@link EventLog} in the SQLite database of a {@link SqliteSessionStore} (tables
 * `events` and `event_seqs`, created by its migrations). Seq numbers continue across restarts
 * (`event_seqs` keeps the last one even after pruning). Each session keeps its last `retention`
 * envelopes: older rows are deleted in the flush once they exceed retention by a tenth, and
 * `read` never returns more than `retention`. Stored events are validated on read; a bad row is
 * skipped and reported (`onInvalidRow`).
 *
 * One writer per session stream: two processes appending to the same session would collide.
 * Closing the store (or this log) flushes queued appends first.
 *
 * @example
 * const store = new SqliteSessionStore({ path: '.sprout/sessions.db' });
 * const log = new SqliteEventLog(store, { retention: 500 });
 * log.append('root', { type: 'token', content: 'hi' }); // { seq: 1, … }, written in this turn's group commit
 * log.read('root', 0).envelopes;                        // includes it already (a read commits first)
 * await log.committed();                                // settles once it is on disk
 */
export class SqliteEventLog implements EventLog {
  readonly #db: SqliteDatabase;
  readonly #options: SqliteEventLogOptions;
  readonly #retention: number;
  readonly #batch: boolean;
  readonly #streams = new Map<string, Stream>();
  #pending: PendingRow[] = [];
  #ledger: LedgerChange[] = [];
  /** Run-index changes of the queued appends (`runs`, written in the same transaction). */
  #runChanges: RunIndexChange[] = [];
  readonly #runIndex: SqliteRunIndexWriter;
  /** Durable, keeps the run ledger in the same transaction as the events, group-commits appends. */
  readonly capabilities: EventLogCapabilities;
  readonly #dirty = new Map<string, Stream>();
  readonly #invalidRows: InvalidSessionDataError[] = [];
  #flushQueued = false;
  #closed = false;
  /** Settles when the appends pending now are committed (see {@link SqliteEventLog.committed}). */
  #commit: { promise: Promise<void>; resolve: () => void } | undefined;
  readonly #stmt;
  readonly #writeTx;

  constructor(source: SqliteDatabaseOwner | SqliteDatabase, options: SqliteEventLogOptions = {}) {
    const parsed = optionsSchema.safeParse({ retention: options.retention, batch: options.batch });
    if (!parsed.success) throw new SproutValidationError('SqliteEventLog options', parsed.error.issues);
    this.#options = options;
    this.#retention = parsed.data.retention ?? 1000;
    this.#batch = parsed.data.batch ?? true;
    this.capabilities = { durable: true, runLedger: true, batched: this.#batch };
    if (isOwner(source)) {
      this.#db = source.database;
      source.beforeClose(() => this.close());
    } else {
      this.#db = source;
      this.#guard(() => migrateSqliteSchema(source));
    }
    this.#stmt = this.#guard(() => ({
      lastSeq: this.#db.prepare<[{ id: string }], { last_seq: number }>(
        `SELECT max(coalesce((SELECT last_seq FROM event_seqs WHERE session_id = @id), 0),
                    coalesce((SELECT max(seq) FROM events WHERE session_id = @id), 0)) AS last_seq`,
      ),
      insert: this.#db.prepare<[string, number, string]>('INSERT INTO events (session_id, seq, json) VALUES (?, ?, ?)'),
      saveSeq: this.#db.prepare<[string, number]>(
        'INSERT INTO event_seqs (session_id, last_seq) VALUES (?, ?) ON CONFLICT (session_id) DO UPDATE SET last_seq = max(last_seq, excluded.last_seq)',
      ),
      prune: this.#db.prepare<[string, number]>('DELETE FROM events WHERE session_id = ? AND seq <= ?'),
      first: this.#db.prepare<[string, number], { seq: number | null }>(
        'SELECT min(seq) AS seq FROM events WHERE session_id = ? AND seq > ?',
      ),
      after: this.#db.prepare<[string, number], { seq: number; json: string }>(
        'SELECT seq, json FROM events WHERE session_id = ? AND seq > ? ORDER BY seq',
      ),
      openRun: this.#db.prepare<[string, string, string, string | null, number]>(
        'INSERT OR IGNORE INTO open_runs (run_id, parent_session_id, child_session_id, title, started_seq) VALUES (?, ?, ?, ?, ?)',
      ),
      closeRun: this.#db.prepare<[string]>('DELETE FROM open_runs WHERE run_id = ?'),
      deleteEvents: this.#db.prepare<[string]>('DELETE FROM events WHERE session_id = ?'),
      deleteRuns: this.#db.prepare<[string, string]>('DELETE FROM open_runs WHERE parent_session_id = ? OR child_session_id = ?'),
      openRuns: this.#db.prepare<
        [],
        { run_id: string; parent_session_id: string; child_session_id: string; title: string | null; started_seq: number }
      >('SELECT run_id, parent_session_id, child_session_id, title, started_seq FROM open_runs ORDER BY started_seq, run_id'),
    }));
    this.#runIndex = this.#guard(() => new SqliteRunIndexWriter(this.#db));
    this.#writeTx = this.#db.transaction((rows: PendingRow[], dirty: Stream[], ids: string[], ledger: LedgerChange[]) => {
      this.#insertRows(rows);
      this.#runIndex.apply(this.#runChanges);
      for (const change of ledger) {
        if (change.kind === 'open') {
          const { run } = change;
          this.#stmt.openRun.run(run.runId, run.parentSessionId, run.childSessionId, run.title ?? null, run.startedSeq);
        } else this.#stmt.closeRun.run(change.runId);
      }
      dirty.forEach((stream, i) => {
        const id = ids[i]!;
        this.#stmt.saveSeq.run(id, stream.lastSeq);
        const through = stream.lastSeq - stream.retention;
        if (through - stream.prunedThrough >= Math.max(1, Math.ceil(stream.retention / 10))) {
          this.#stmt.prune.run(id, through);
          stream.prunedThrough = through;
        }
      });
    });
  }

  /** Multi-row INSERTs by row count (a full chunk, and each smaller remainder size met). */
  readonly #inserts = new Map<number, { run(...params: unknown[]): unknown }>();

  /**
   * Writes rows with multi-row INSERT statements of up to {@link INSERT_CHUNK} rows: one call into
   * SQLite per chunk instead of one per row (a tree's forwarding writes a row per level per event).
   */
  #insertRows(rows: readonly PendingRow[]): void {
    for (let start = 0; start < rows.length; start += INSERT_CHUNK) {
      const count = Math.min(INSERT_CHUNK, rows.length - start);
      if (count === 1) {
        const row = rows[start] as PendingRow;
        this.#stmt.insert.run(row.sessionId, row.seq, row.json);
        continue;
      }
      let statement = this.#inserts.get(count);
      if (statement === undefined) {
        statement = this.#db.prepare(`INSERT INTO events (session_id, seq, json) VALUES ${Array(count).fill('(?, ?, ?)').join(', ')}`);
        // Keep the full chunk's statement and a bounded set of remainder sizes.
        if (count === INSERT_CHUNK || this.#inserts.size < 64) this.#inserts.set(count, statement);
      }
      const params: unknown[] = new Array(count * 3);
      for (let i = 0; i < count; i++) {
        const row = rows[start + i] as PendingRow;
        params[i * 3] = row.sessionId;
        params[i * 3 + 1] = row.seq;
        params[i * 3 + 2] = row.json;
      }
      statement.run(...params);
    }
  }

  /**
   * Stored events `read` skipped as invalid (the most recent 100), oldest first.
   *
   * @example
   * for (const error of log.invalidRows) console.warn(error.message);
   */
  get invalidRows(): readonly InvalidSessionDataError[] {
    return this.#invalidRows;
  }

  /**
   * Assigns the session's next seq (synchronously) and queues the envelope for writing.
   *
   * @example
   * const { seq } = log.append('root', { type: 'token', content: 'hi' });
   */
  append(sessionId: string, event: AgentEvent): SessionEventEnvelope {
    if (this.#closed) throw new StoreUnavailableError(`event log on ${this.#db.name} is closed`);
    const stream = this.#stream(sessionId);
    const json = stream.retention === 0 ? '' : toJson(event);
    const seq = ++stream.lastSeq;
    if (stream.retention > 0) this.#pending.push({ sessionId, seq, json });
    const change = ledgerChange(sessionId, seq, event);
    if (change) this.#ledger.push(change);
    if (event.type.startsWith('sub_session_')) {
      const indexed = runIndexChange(sessionId, seq, event, toRfc3339(systemClock.now()));
      if (indexed) this.#runChanges.push(indexed);
    }
    this.#dirty.set(sessionId, stream);
    if (!this.#batch) {
      try {
        this.flush();
      } catch (error) {
        // Refused means not written, ever: every append flushes in this mode, so what is queued is
        // this one event. Take it back out and give its seq back.
        this.#pending = [];
        this.#ledger = [];
        this.#runChanges = [];
        this.#dirty.clear();
        stream.lastSeq = seq - 1;
        throw error;
      }
    } else if (this.#pending.length >= MAX_PENDING) {
      // A full batch is written now; when that fails, the batch stays queued (retried by the next
      // flush) like any background flush, and the failure goes to onError.
      this.#backgroundFlush();
    } else if (!this.#flushQueued) {
      // Group commit per event-loop turn: everything appended until the I/O phase goes in one
      // transaction, in append order (a run's completion is never written before its events).
      this.#flushQueued = true;
      setImmediate(() => this.#backgroundFlush());
    }
    return { seq, sessionId, event };
  }

  /**
   * Retained envelopes of `sessionId` with `seq > afterSeq` (queued ones included), oldest first.
   *
   * @example
   * const { envelopes, firstRetainedSeq, lastSeq } = log.read('root', 0);
   */
  read(sessionId: string, afterSeq: number): EventLogReadResult {
    if (!this.#closed) this.flush();
    return this.#guard(() => {
      const stream = this.#stream(sessionId);
      const { lastSeq, retention } = stream;
      if (retention === 0) return { envelopes: [], firstRetainedSeq: undefined, lastSeq };
      const horizon = Math.max(0, lastSeq - retention);
      const firstRetainedSeq = this.#stmt.first.get(sessionId, horizon)?.seq ?? undefined;
      const after = Number.isNaN(afterSeq) ? horizon : Math.max(horizon, Math.floor(afterSeq));
      const envelopes: SessionEventEnvelope[] = [];
      for (const row of this.#stmt.after.all(sessionId, after)) {
        const event = this.#decode(sessionId, row.seq, row.json);
        if (event !== undefined) envelopes.push({ seq: row.seq, sessionId, event });
      }
      return { envelopes, firstRetainedSeq, lastSeq };
    });
  }

  /**
   * Writes queued appends now (one transaction). Throws {@link StoreUnavailableError} on failure,
   * keeping them queued.
   *
   * @example
   * log.flush();
   */
  flush(): void {
    if (this.#dirty.size === 0) return;
    const rows = this.#pending;
    const ids = [...this.#dirty.keys()];
    this.#guard(() => this.#writeTx.immediate(rows, [...this.#dirty.values()], ids, this.#ledger));
    this.#pending = [];
    this.#ledger = [];
    this.#runChanges = [];
    this.#dirty.clear();
    const commit = this.#commit;
    this.#commit = undefined;
    commit?.resolve();
  }

  /**
   * Settles once every append made so far is committed (by the group commit of this turn, or an
   * earlier `flush`); `undefined` when nothing is pending. The scheduler's streams deliver an
   * envelope to live subscribers only after it, so nobody sees an event a crash could lose.
   * A failed flush keeps it pending until a later flush commits.
   *
   * @example
   * log.append('root', event);
   * await log.committed(); // now on disk
   */
  committed(): Promise<void> | undefined {
    if (this.#dirty.size === 0) return undefined;
    if (this.#commit === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      this.#commit = { promise, resolve };
    }
    return this.#commit.promise;
  }

  /**
   * Forgets a deleted session's events and the open runs it announced or that ran it, in one
   * transaction after what is pending was written. The seq counter (`event_seqs`) is kept, so a seq
   * is never given to another event.
   *
   * @example
   * log.deleteSession('c1');
   * log.read('c1', 0).envelopes; // []
   */
  deleteSession(sessionId: string): void {
    if (this.#closed) throw new StoreUnavailableError(`event log on ${this.#db.name} is closed`);
    this.flush();
    this.#guard(() =>
      this.#db.transaction(() => {
        this.#stmt.deleteEvents.run(sessionId);
        this.#stmt.deleteRuns.run(sessionId, sessionId);
        this.#runIndex.deleteSession(sessionId);
      })(),
    );
    const stream = this.#streams.get(sessionId);
    if (stream !== undefined) stream.prunedThrough = stream.lastSeq;
  }

  /**
   * Runs announced and not yet completed (the durable run ledger, written in the same
   * transaction as the events), oldest first. Flushes queued appends first.
   *
   * @example
   * for (const run of log.openRuns()) console.log(run.runId, 'was open when the process stopped');
   */
  openRuns(): OpenRun[] {
    if (!this.#closed) this.flush();
    return this.#guard(() =>
      this.#stmt.openRuns.all().map((row) => {
        const run: OpenRun = {
          runId: row.run_id,
          parentSessionId: row.parent_session_id,
          childSessionId: row.child_session_id,
          startedSeq: row.started_seq,
        };
        if (row.title !== null) run.title = row.title;
        return run;
      }),
    );
  }

  /**
   * Flushes, then refuses further appends. Idempotent. Does not close the database.
   *
   * @example
   * log.close();
   */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
  }

  #backgroundFlush(): void {
    this.#flushQueued = false;
    if (this.#closed) return;
    try {
      this.flush();
    } catch (error) {
      const failure = error instanceof StoreUnavailableError ? error : new StoreUnavailableError(String(error), { cause: error });
      if (this.#options.onError) this.#options.onError(failure);
      else throw failure;
    }
  }

  #stream(sessionId: string): Stream {
    let stream = this.#streams.get(sessionId);
    if (stream === undefined) {
      const lastSeq = this.#guard(() => this.#stmt.lastSeq.get({ id: sessionId })?.last_seq ?? 0);
      const wanted = this.#options.retentionFor?.(sessionId) ?? this.#retention;
      const retention = retentionSchema.safeParse(wanted);
      if (!retention.success) throw new SproutValidationError(`retentionFor(${sessionId})`, retention.error.issues);
      stream = { lastSeq, retention: retention.data, prunedThrough: 0 };
      this.#streams.set(sessionId, stream);
    }
    return stream;
  }

  #decode(sessionId: string, seq: number, json: string): AgentEvent | undefined {
    let detail: string;
    try {
      const parsed = agentEventSchema.safeParse(JSON.parse(json));
      if (parsed.success) return parsed.data;
      detail = new SproutValidationError('event', parsed.error.issues).message;
    } catch (error) {
      detail = `stored JSON does not parse (${error instanceof Error ? error.message : String(error)})`;
    }
    const invalid = new InvalidSessionDataError(sessionId, `event seq ${seq}: ${detail}`);
    this.#invalidRows.push(invalid);
    if (this.#invalidRows.length > 100) this.#invalidRows.shift();
    this.#options.onInvalidRow?.(invalid);
    return undefined;
  }

  /** Runs `fn`; SQLite failures become {@link StoreUnavailableError} naming the file. */
  #guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      if (error instanceof SproutError) throw error;
      throw new StoreUnavailableError(`event log on ${this.#db.name} failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    }
  }
}

function toJson(event: AgentEvent): string {
  try {
    return JSON.stringify(event);
  } catch (error) {
    throw new SproutValidationError('event', [{ code: 'custom', path: [], message: `event is not JSON-serializable: ${String(error)}` }]);
  }
}
