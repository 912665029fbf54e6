import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { sessionSchema } from '../../../machines/session.schema.js';
import type { RunStatusMetadata, Session } from '../../../machines/session.schema.js';
import { InvalidSessionDataError, SessionConflictError, SproutError, SproutValidationError, StoreUnavailableError } from '../../errors.js';
import type { CompanionEventLogOptions, EventLog, SessionStore, SessionStoreCapabilities } from '../../api/ports.js';
import type { SessionSummaryFilter, SessionSummaryPage, SessionSummaryQuery } from '../../api/session-summary.js';
import { parseSummaryFilter, parseSummaryQuery, summaryColumnsOf } from '../session-summaries.js';
import { decodeStoredSession, sessionToJson } from '../stored-session.js';
import { SqliteSummaryReader } from './sqlite-summary-reader.js';
import { SqliteRunIndexReader } from './sqlite-run-index.js';
import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';
import { SqliteEventLog } from './sqlite-event-log.js';
import { migrateSqliteSchema, type SqliteDatabase } from './sqlite-schema.js';

export { SQLITE_MIGRATIONS, migrateSqliteSchema, type SqliteDatabase } from './sqlite-schema.js';

/**
 * Options of {@link SqliteSessionStore}: either a file `path` (or `':memory:'`) that the store
 * opens, owns and closes, or an open better-sqlite3 `database` that stays yours (the store
 * migrates its schema but leaves its pragmas and does not close it).
 *
 * @example
 * const options: SqliteSessionStoreOptions = { path: 'sprout.db', onInvalidRow: (e) => log.warn(e.message) };
 */
export type SqliteSessionStoreOptions = ({ path: string; database?: never } | { database: SqliteDatabase; path?: never }) & {
  /**
   * Called for every stored row that `listChildren` / `listByRunStatus` skipped because its JSON
   * is not a valid session. Skipped rows are also kept in {@link SqliteSessionStore.invalidRows}.
   * @default undefined
   */
  onInvalidRow?: (error: InvalidSessionDataError) => void;
  /** How long a write waits for another process's lock (`busy_timeout`). @default 5000 */
  busyTimeoutMs?: number;
  /** Run `PRAGMA quick_check` on open, so a corrupt file fails now, not mid-run. @default true */
  checkOnOpen?: boolean;
};

/** The session's own columns a save writes (`json` last). */
const ROW_COLUMNS = [
  'id',
  'kind',
  'parent_session_id',
  'root_session_id',
  'spawn_depth',
  'last_run_status',
  'created_at',
  'updated_at',
  'json',
];
/** The summary columns a save writes (migration 4). */
const SUMMARY_COLUMNS = [
  'title',
  'model',
  'metadata',
  'message_count',
  'last_message_id',
  'last_message_role',
  'last_message_at',
  'has_attachments',
  'last_activity_at',
];

/** How many skipped rows {@link SqliteSessionStore.invalidRows} keeps (the most recent). */
const INVALID_ROWS_KEPT = 100;

interface SessionRow {
  id: string;
  version: number;
  json: string;
}

/**
 * A durable {@link SessionStore} on SQLite (better-sqlite3), in WAL mode with
 * `synchronous = NORMAL`. The schema is migrated on open (`PRAGMA user_version`; see
 * `sqlite-schema.ts`). Sessions are stored as validated JSON plus indexed columns (kind, parent,
 * root, depth, `last_run_status`, timestamps, `version`).
 *
 * - Optimistic concurrency as {@link MemorySessionStore}, done atomically in one
 *   `BEGIN IMMEDIATE` transaction (`UPDATE … WHERE id = ? AND version = ?`, else `INSERT` when
 *   absent, else {@link SessionConflictError}). Safe across processes sharing the file.
 * - A row whose JSON is not a valid session: `load` rejects with {@link InvalidSessionDataError};
 *   the list methods skip it and report it (`onInvalidRow`, and the `invalidRows` list).
 * - A file that is not SQLite or is corrupt throws {@link StoreUnavailableError} naming the file
 *   from the constructor; SQLite failures later reject with the same error type.
 * - The API is async per the port; the SQLite calls inside are synchronous.
 *
 * @example
 * const store = new SqliteSessionStore({ path: '.sprout/sessions.db' }); // or new SqliteSessionStore(':memory:')
 * await store.save(session);
 * const children = await store.listChildren(session.id);
 * store.close();
 */
export class SqliteSessionStore implements SessionStore, RunIndex {
  /** Loads are validated copies (checked on load); `listByRunStatus` is indexed; summaries are listed from their own columns. */
  readonly capabilities: SessionStoreCapabilities = { validatedLoads: true, runStatusIndex: true, summaries: true };
  readonly #db: SqliteDatabase;
  readonly #ownsDatabase: boolean;
  readonly #onInvalidRow: ((error: InvalidSessionDataError) => void) | undefined;
  readonly #invalidRows: InvalidSessionDataError[] = [];
  readonly #closeHooks: (() => void)[] = [];
  #eventLog: SqliteEventLog | undefined;
  #closed = false;
  readonly #stmt;
  readonly #saveTx;
  readonly #summaries: SqliteSummaryReader;
  readonly #runs: SqliteRunIndexReader;

  /** @param target a file path (or `':memory:'`), shorthand for `{ path }`, or the options. */
  constructor(target: string | SqliteSessionStoreOptions) {
    const options: SqliteSessionStoreOptions = typeof target === 'string' ? { path: target } : target;
    if (options.database !== undefined) {
      this.#db = options.database;
      this.#ownsDatabase = false;
      prepareDatabase(this.#db, { configure: false, check: options.checkOnOpen ?? true });
    } else {
      this.#db = openFile(options.path, options.busyTimeoutMs ?? 5000);
      this.#ownsDatabase = true;
      try {
        prepareDatabase(this.#db, { configure: true, check: options.checkOnOpen ?? true });
      } catch (error) {
        this.#db.close();
        throw error;
      }
    }
    this.#onInvalidRow = options.onInvalidRow;
    const names = [...ROW_COLUMNS, ...SUMMARY_COLUMNS];
    const columns = names
      .slice(1)
      .map((name) => `${name} = @${name}`)
      .join(', ');
    const insertColumns = `(${names.join(', ')}, version) VALUES (${names.map((name) => `@${name}`).join(', ')}, 1)`;
    this.#stmt = {
      get: this.#db.prepare<[string], SessionRow>('SELECT id, version, json FROM sessions WHERE id = ?'),
      version: this.#db.prepare<[string], { version: number }>('SELECT version FROM sessions WHERE id = ?'),
      update: this.#db.prepare<[Record<string, unknown>]>(
        `UPDATE sessions SET ${columns}, version = version + 1 WHERE id = @id AND version = @expected`,
      ),
      insert: this.#db.prepare<[Record<string, unknown>]>(`INSERT INTO sessions ${insertColumns} ON CONFLICT (id) DO NOTHING`),
      upsert: this.#db.prepare<[Record<string, unknown>], { version: number }>(
        `INSERT INTO sessions ${insertColumns}
         ON CONFLICT (id) DO UPDATE SET ${columns.replaceAll('@', 'excluded.')}, version = version + 1
         RETURNING version`,
      ),
      delete: this.#db.prepare<[string]>('DELETE FROM sessions WHERE id = ?'),
      children: this.#db.prepare<[string], SessionRow>(
        'SELECT id, version, json FROM sessions WHERE parent_session_id = ? ORDER BY created_at, id',
      ),
      byStatus: this.#db.prepare<[string], SessionRow>(
        `SELECT id, version, json FROM sessions WHERE kind = 'child' AND last_run_status IN (SELECT value FROM json_each(?)) ORDER BY created_at, id`,
      ),
      rootsByStatus: this.#db.prepare<[string], SessionRow>(
        `SELECT id, version, json FROM sessions WHERE kind = 'root' AND last_run_status IN (SELECT value FROM json_each(?)) ORDER BY created_at, id`,
      ),
    };
    this.#summaries = new SqliteSummaryReader(this.#db);
    this.#runs = new SqliteRunIndexReader(this.#db);
    this.#saveTx = this.#db.transaction((row: Record<string, unknown>, expected: number | undefined): number => {
      // No version: the caller did not read the session first; last write wins (versioned saves are checked).
      if (expected === undefined) return (this.#stmt.upsert.get(row) as { version: number }).version;
      if (this.#stmt.update.run({ ...row, expected }).changes === 1) return expected + 1;
      if (this.#stmt.insert.run(row).changes === 1) return 1;
      throw new SessionConflictError(row.id as string, expected, this.#stmt.version.get(row.id as string)?.version);
    });
  }

  /**
   * The underlying better-sqlite3 connection, e.g. to share it with a `SqliteEventLog`.
   *
   * @example
   * const log = new SqliteEventLog(store.database);
   */
  get database(): SqliteDatabase {
    return this.#db;
  }

  /**
   * Rows the list methods skipped as invalid (most recent {@link INVALID_ROWS_KEPT}), oldest first.
   *
   * @example
   * await store.listChildren('root');
   * for (const error of store.invalidRows) console.warn(error.message);
   */
  get invalidRows(): readonly InvalidSessionDataError[] {
    return this.#invalidRows;
  }

  /**
   * The stored session with its `version`, or `undefined`. Rejects with
   * {@link InvalidSessionDataError} when the stored row is not a valid session.
   *
   * @example
   * const session = await store.load('child-1');
   */
  load(id: string): Promise<Session | undefined> {
    return this.#run(() => {
      const row = this.#stmt.get.get(id);
      if (row === undefined) return undefined;
      const decoded = decodeRow(row);
      if (decoded instanceof InvalidSessionDataError) throw decoded;
      return decoded;
    });
  }

  /**
   * Validates and stores `session`, checking and bumping its `version` atomically; writes the new
   * version back into `session`.
   *
   * @example
   * await store.save(session); // rejects with SessionConflictError if someone saved in between
   */
  save(session: Session): Promise<void> {
    return this.#run(() => {
      const parsed = sessionSchema.safeParse(session);
      if (!parsed.success) throw new SproutValidationError('session', parsed.error.issues);
      const { version: expected, ...data } = parsed.data;
      const summary = summaryColumnsOf(data);
      const row = {
        ...summary,
        metadata: JSON.stringify(summary.metadata),
        has_attachments: summary.has_attachments ? 1 : 0,
        id: data.id,
        kind: data.kind,
        parent_session_id: data.parent_session_id ?? null,
        root_session_id: data.root_session_id,
        spawn_depth: data.spawn_depth,
        last_run_status: data.metadata.last_run_status ?? null,
        created_at: data.created_at,
        updated_at: data.updated_at,
        json: sessionToJson(data),
      };
      session.version = this.#saveTx.immediate(row, expected);
    });
  }

  /**
   * Removes a session; resolves `true` when it existed.
   *
   * @example
   * await store.delete('child-1');
   */
  delete(id: string): Promise<boolean> {
    return this.#run(() => this.#stmt.delete.run(id).changes > 0);
  }

  /**
   * The direct children of `parentSessionId`, sorted by `created_at`, then `id`. Invalid rows
   * are skipped and reported.
   *
   * @example
   * const children = await store.listChildren('root-1');
   */
  listChildren(parentSessionId: string): Promise<Session[]> {
    return this.#run(() => this.#decodeAll(this.#stmt.children.all(parentSessionId)));
  }

  /**
   * `kind: 'child'` sessions whose `metadata.last_run_status` is one of `statuses`, sorted by
   * `created_at`, then `id`. Invalid rows are skipped and reported.
   *
   * @example
   * const interrupted = await store.listByRunStatus(['running', 'pending']);
   */
  listByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return this.#run(() => this.#decodeAll(this.#stmt.byStatus.all(JSON.stringify(statuses))));
  }

  /**
   * `kind: 'root'` sessions whose `metadata.last_run_status` is one of `statuses` (a root's own
   * run), sorted by `created_at`, then `id` (the run-status index). Invalid rows are skipped and reported.
   *
   * @example
   * const interruptedRoots = await store.listRootsByRunStatus(['running', 'pending']);
   */
  listRootsByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return this.#run(() => this.#decodeAll(this.#stmt.rootsByStatus.all(JSON.stringify(statuses))));
  }

  /**
   * One page of summaries matching the query, read from the summary columns only (never the
   * session JSON) through the `created_at, id` / last-activity indexes: O(`limit`) per page.
   * Rejects with {@link SproutValidationError} for an invalid query.
   *
   * @example
   * const { items, nextCursor } = await store.listSummaries({ kind: 'root', limit: 50 });
   */
  listSummaries(query: SessionSummaryQuery): Promise<SessionSummaryPage> {
    return this.#run(() => this.#summaries.page(parseSummaryQuery(query)));
  }

  /**
   * One page of the run index (`runs`, written by this database's event log in the same
   * transaction as the events), newest first, through an index per filter. Queued appends of the
   * store's own event log are written first. Rejects with {@link SproutValidationError} for an
   * invalid query.
   *
   * @example
   * const { runs, nextCursor } = await store.queryRuns({ status: ['error'], limit: 50 });
   */
  queryRuns(query: RunQuery): Promise<RunPage> {
    return this.#run(() => {
      this.#eventLog?.flush();
      return this.#runs.queryRuns(query);
    });
  }

  /**
   * One indexed run by id, or `undefined`.
   *
   * @example
   * const run = await store.getRun('r1');
   */
  getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#run(() => {
      this.#eventLog?.flush();
      return this.#runs.getRun(runId);
    });
  }

  /**
   * How many sessions match the filter (an indexed `count(*)`).
   *
   * @example
   * const roots = await store.countSummaries({ kind: 'root' });
   */
  countSummaries(filter: SessionSummaryFilter): Promise<number> {
    return this.#run(() => this.#summaries.count(parseSummaryFilter(filter)));
  }

  /**
   * A durable {@link SqliteEventLog} in this store's database, so replay, `seq` and the run
   * ledger survive a restart with the sessions (what the scheduler uses when given no log). The
   * same log is returned on later calls (the first call's options win): one writer per database.
   *
   * @example
   * const log = store.openEventLog({ retention: 1000, onError: console.error });
   */
  openEventLog(options: CompanionEventLogOptions): EventLog {
    // One log per database: two would each count seq on their own and collide.
    this.#eventLog ??= new SqliteEventLog(this, { retention: options.retention, onError: (error) => options.onError(error) });
    return this.#eventLog;
  }

  /**
   * Registers `hook` to run when {@link close} is called, before the connection closes (an
   * event log sharing the connection flushes there).
   *
   * @example
   * store.beforeClose(() => log.close());
   */
  beforeClose(hook: () => void): void {
    this.#closeHooks.push(hook);
  }

  /**
   * Runs the close hooks, then closes the connection if the store opened it. Idempotent; later
   * calls reject with {@link StoreUnavailableError}.
   *
   * @example
   * store.close();
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // Every hook runs even when one throws (each log flushes its own appends); the first failure
    // is rethrown once the connection is closed.
    let failure: { error: unknown } | undefined;
    for (const hook of this.#closeHooks.splice(0)) {
      try {
        hook();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (this.#ownsDatabase) this.#db.close();
    if (failure) throw failure.error;
  }

  #decodeAll(rows: SessionRow[]): Session[] {
    const sessions: Session[] = [];
    for (const row of rows) {
      const decoded = decodeRow(row);
      if (decoded instanceof InvalidSessionDataError) this.#report(decoded);
      else sessions.push(decoded);
    }
    return sessions;
  }

  #report(error: InvalidSessionDataError): void {
    this.#invalidRows.push(error);
    if (this.#invalidRows.length > INVALID_ROWS_KEPT) this.#invalidRows.shift();
    this.#onInvalidRow?.(error);
  }

  /** Runs `fn` as a promise; SQLite failures become {@link StoreUnavailableError}. */
  #run<T>(fn: () => T): Promise<T> {
    return new Promise<T>((resolve) => {
      if (this.#closed) throw new StoreUnavailableError(`session store ${this.#db.name} is closed`);
      try {
        resolve(fn());
      } catch (error) {
        if (error instanceof SproutError) throw error;
        throw new StoreUnavailableError(`session store ${this.#db.name} failed: ${messageOf(error)}`, { cause: error });
      }
    });
  }
}

/** Opens (creating its directory) a database file, naming the file in any failure. */
function openFile(path: string, busyTimeoutMs: number): SqliteDatabase {
  try {
    if (path !== ':memory:' && path !== '' && !path.startsWith('file:')) mkdirSync(dirname(path), { recursive: true });
    return new Database(path, { timeout: busyTimeoutMs });
  } catch (error) {
    throw new StoreUnavailableError(`cannot open session store ${path}: ${messageOf(error)}`, { cause: error });
  }
}

/**
 * Configures (WAL, `synchronous = NORMAL`) a connection the store opened, checks that it is a
 * readable SQLite database and migrates it. Every failure names the file.
 */
function prepareDatabase(db: SqliteDatabase, { configure, check }: { configure: boolean; check: boolean }): void {
  try {
    if (configure) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    if (check) {
      const problems = (db.pragma('quick_check') as { quick_check: string }[])
        .map((row) => row.quick_check)
        .filter((text) => text !== 'ok');
      if (problems.length > 0) throw new StoreUnavailableError(`session store ${db.name} is corrupt: ${problems.slice(0, 3).join('; ')}`);
    } else {
      db.prepare('SELECT count(*) FROM sqlite_schema').get();
    }
    migrateSqliteSchema(db);
  } catch (error) {
    if (error instanceof StoreUnavailableError) throw error;
    throw new StoreUnavailableError(`cannot open session store ${db.name}: ${messageOf(error)}`, { cause: error });
  }
}

/** Parses and validates a stored row; returns the error instead of throwing it. */
function decodeRow(row: SessionRow): Session | InvalidSessionDataError {
  let value: unknown;
  try {
    value = JSON.parse(row.json);
  } catch (error) {
    return new InvalidSessionDataError(row.id, `stored JSON does not parse (${messageOf(error)})`, { cause: error });
  }
  return decodeStoredSession(row.id, value, row.version);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
