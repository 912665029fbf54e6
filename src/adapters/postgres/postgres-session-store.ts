import { sessionSchema } from '../../../machines/session.schema.js';
import type { RunStatusMetadata, Session } from '../../../machines/session.schema.js';
import { InvalidSessionDataError, RunFencedError, SessionConflictError, SproutError, SproutValidationError } from '../../errors.js';
import type { CompanionEventLogOptions, RunFence, SessionStore, SessionStoreCapabilities, WriteOptions } from '../../api/ports.js';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import type { AppendRow } from './postgres-group-commit-writer.js';
import { namedStatement, PostgresDatabase, type NamedStatement, type PostgresConnectionOptions } from './postgres-database.js';
import { PostgresEventLog } from './postgres-event-log.js';
import { decodeStoredSession, sessionToJson } from '../stored-session.js';
import type { SessionSummaryFilter, SessionSummaryPage, SessionSummaryQuery } from '../../api/session-summary.js';
import { parseSummaryFilter, parseSummaryQuery, summaryColumnsOf } from '../session-summaries.js';
import { PostgresSummaryReader } from './postgres-summary-reader.js';
import { PostgresRunIndexReader } from './postgres-run-index.js';
import { fencedSaveBatchStatement, PostgresFencedSaves, type FencedSaveOutcome, type FencedSaveRow } from './postgres-fenced-saves.js';
import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';

/**
 * Options of {@link PostgresSessionStore}: how to reach the database (or a shared
 * {@link PostgresDatabase}), plus what to do with stored rows that fail the session schema.
 *
 * @example
 * const options: PostgresSessionStoreOptions = { connectionString: 'postgres://localhost/app', schema: 'sprout' };
 */
export interface PostgresSessionStoreOptions extends PostgresConnectionOptions {
  /** A database (pool + schema) to share; it stays yours (the connection options are then ignored). */
  database?: PostgresDatabase;
  /**
   * Called for every stored row that `listChildren` / `listByRunStatus` skipped because it is not
   * a valid session. Skipped rows are also kept in {@link PostgresSessionStore.invalidRows}.
   * @default undefined
   */
  onInvalidRow?: (error: InvalidSessionDataError) => void;
}

/** How many skipped rows {@link PostgresSessionStore.invalidRows} keeps (the most recent). */
const INVALID_ROWS_KEPT = 100;

interface SessionRow {
  id: string;
  version: number;
  data: unknown;
}

/** The columns a save writes (`$1`…`$18` in this order) and their types: the session, then its summary (migration 4). */
const COLUMNS: readonly (readonly [string, string])[] = [
  ['id', 'text'],
  ['kind', 'text'],
  ['parent_session_id', 'text'],
  ['root_session_id', 'text'],
  ['spawn_depth', 'integer'],
  ['last_run_status', 'text'],
  ['created_at', 'text'],
  ['updated_at', 'text'],
  ['data', 'jsonb'],
  ['title', 'text'],
  ['model', 'text'],
  ['metadata', 'jsonb'],
  ['message_count', 'integer'],
  ['last_message_id', 'text'],
  ['last_message_role', 'text'],
  ['last_message_at', 'text'],
  ['has_attachments', 'boolean'],
  ['last_activity_at', 'text'],
];

/**
 * A durable {@link SessionStore} on PostgreSQL (node-postgres), in the table `sessions` of its
 * schema (`schema` option, default `sprout`; created and migrated on first use). Sessions are
 * stored as validated `jsonb` plus indexed columns (kind, parent, root, depth, `last_run_status`,
 * timestamps, `version`).
 *
 * - Optimistic concurrency as the other stores, in one statement (`UPDATE … WHERE id = $1 AND
 *   version = $2`, else `INSERT … ON CONFLICT DO NOTHING`): a stale save rejects with
 *   {@link SessionConflictError}. Safe across processes and hosts.
 * - `load` validates every row (`validatedLoads`): a row that is not a valid session rejects with
 *   {@link InvalidSessionDataError}; the list methods skip it and report it (`onInvalidRow`).
 * - An unreachable server or a lost connection rejects with `StoreUnavailableError` (the pool
 *   reconnects by itself on the next call). `jsonb` cannot hold the character U+0000: a session
 *   containing it is refused with {@link SproutValidationError}.
 * - `openEventLog` gives a {@link PostgresEventLog} in the same schema, so events, `seq` and the run
 *   ledger survive with the sessions.
 *
 * @example
 * const store = new PostgresSessionStore({ connectionString: 'postgres://localhost/app', schema: 'sprout' });
 * const scheduler = createSpawnScheduler({ store, agent }); // events go to the same schema
 * await scheduler.start();
 * // … later
 * await scheduler.stop();
 * await store.close();
 */
export class PostgresSessionStore implements SessionStore, RunIndex {
  /** Loads are validated, fresh copies; `listByRunStatus` is indexed; summaries are listed from their own columns. */
  readonly capabilities: SessionStoreCapabilities = { validatedLoads: true, runStatusIndex: true, summaries: true };
  readonly #db: PostgresDatabase;
  readonly #ownsDatabase: boolean;
  readonly #onInvalidRow: ((error: InvalidSessionDataError) => void) | undefined;
  readonly #invalidRows: InvalidSessionDataError[] = [];
  readonly #sql;
  readonly #summaries: PostgresSummaryReader;
  readonly #runs: PostgresRunIndexReader;
  readonly #fencedSaves: PostgresFencedSaves;
  /** Fenced saves accepted and not yet answered (`close()` waits for them). */
  readonly #accepted = new Set<Promise<FencedSaveOutcome>>();
  #eventLog: PostgresEventLog | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresSessionStoreOptions = {}) {
    if (options.database) {
      this.#db = options.database;
      this.#ownsDatabase = false;
    } else {
      this.#db = new PostgresDatabase(options);
      this.#ownsDatabase = true;
    }
    this.#onInvalidRow = options.onInvalidRow;
    const table = `${this.#db.quoted}.sessions`;
    this.#summaries = new PostgresSummaryReader(table, (text, values, what) => this.#query<Record<string, unknown>>(text, values, what));
    this.#runs = new PostgresRunIndexReader(`${this.#db.quoted}.runs`, (text, values, what) =>
      this.#query<Record<string, unknown>>(text, values, what),
    );
    const params = COLUMNS.map(([, type], i) => `$${i + 1}::${type}`).join(', ');
    const names = COLUMNS.map(([name]) => name);
    const assign = (from: (name: string, i: number) => string): string =>
      names
        .slice(1)
        .map((name, i) => `${name} = ${from(name, i + 1)}`)
        .join(', ');
    this.#sql = {
      load: namedStatement(`SELECT id, version, data FROM ${table} WHERE id = $1`),
      // No version: last write wins (the caller did not read the session first).
      upsert: namedStatement(`INSERT INTO ${table} (${names.join(', ')}, version) VALUES (${params}, 1)
               ON CONFLICT (id) DO UPDATE SET ${assign((name) => `excluded.${name}`)}, version = ${table}.version + 1
               RETURNING version`),
      // A version: update that version, else insert when absent, else nothing (a conflict) — one statement.
      save: namedStatement(`WITH updated AS (
               UPDATE ${table} SET ${assign((_, i) => `$${i + 1}::${COLUMNS[i]![1]}`)}, version = version + 1
               WHERE id = $1::text AND version = $${COLUMNS.length + 1}::integer RETURNING version
             ), inserted AS (
               INSERT INTO ${table} (${names.join(', ')}, version)
               SELECT ${params}, 1 WHERE NOT EXISTS (SELECT 1 FROM updated)
               ON CONFLICT (id) DO NOTHING RETURNING version
             )
             SELECT (SELECT version FROM updated) AS updated, (SELECT version FROM inserted) AS inserted`),
      // A fenced save (`options.fence`): the same, only while the run's token is the writer's
      // (its `run_fences` row locked FOR SHARE, so a takeover waits for it or it sees the takeover).
      saveFenced: namedStatement(fencedSave(table, `${this.#db.quoted}.run_fences`, names, params, assign)),
      fencedSaveCtes: fencedSaveCtes(table, `${this.#db.quoted}.run_fences`, names, params, assign),
      // Concurrent fenced saves (a worker's runs), written together (see PostgresFencedSaves).
      saveFencedBatch: fencedSaveBatchStatement(table, `${this.#db.quoted}.run_fences`, COLUMNS),
      version: `SELECT version FROM ${table} WHERE id = $1`,
      delete: `DELETE FROM ${table} WHERE id = $1 RETURNING 1 AS deleted`,
      children: `SELECT id, version, data FROM ${table} WHERE parent_session_id = $1 ORDER BY created_at, id`,
      byStatus: `SELECT id, version, data FROM ${table} WHERE kind = 'child' AND last_run_status = ANY($1::text[]) ORDER BY created_at, id`,
      rootsByStatus: `SELECT id, version, data FROM ${table} WHERE kind = 'root' AND last_run_status = ANY($1::text[]) ORDER BY created_at, id`,
    };
    this.#fencedSaves = new PostgresFencedSaves({
      statement: this.#sql.saveFencedBatch,
      query: (statement, values, what) => this.#db.query(statement, values, what),
      single: (row) => this.#saveFencedAlone(row),
    });
  }

  /**
   * The database (pool and schema) this store uses, e.g. to open more logs on it.
   *
   * @example
   * const log = new PostgresEventLog({ database: store.database, retention: 500 });
   */
  get database(): PostgresDatabase {
    return this.#db;
  }

  /**
   * Rows the list methods skipped as invalid (most recent {@link INVALID_ROWS_KEPT}), oldest first.
   *
   * @example
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
  async load(id: string): Promise<Session | undefined> {
    const [row] = await this.#query<SessionRow>(this.#sql.load, [id], `loading session ${id}`);
    if (row === undefined) return undefined;
    const decoded = decodeRow(row);
    if (decoded instanceof InvalidSessionDataError) throw decoded;
    return decoded;
  }

  /**
   * Validates and stores `session`, checking and bumping its `version` atomically; writes the new
   * version back into `session`.
   *
   * @example
   * await store.save(session); // rejects with SessionConflictError if someone saved in between
   */
  async save(session: Session, options?: WriteOptions): Promise<void> {
    const { data, row, expected } = this.#rowOf(session);
    const what = `saving session ${data.id}`;
    const fence = options?.fence;
    if (fence !== undefined) {
      if (this.#closed || this.#db.closed) throw this.#db.closedError();
      // Accepted before close(): close() waits for it (the migration check included).
      const accepted = this.#db.ready().then(() =>
        this.#fencedSaves.save({
          id: data.id,
          values: row,
          expected: expected ?? null,
          fenceRunId: fence.runId,
          fenceEpoch: fence.epoch,
        }),
      );
      this.#accepted.add(accepted);
      const forget = () => void this.#accepted.delete(accepted);
      accepted.then(forget, forget);
      const result = await accepted;
      if (!result.owned) throw new RunFencedError(fence.runId, fence.epoch, `the save of session ${data.id}`);
      if (result.version !== undefined) {
        session.version = result.version;
        return;
      }
      throw await this.#conflict(data.id, expected);
    }
    if (expected === undefined) {
      const [saved] = await this.#query<{ version: number }>(this.#sql.upsert, row, what);
      session.version = saved!.version;
      return;
    }
    const [result] = await this.#query<{ updated: number | null; inserted: number | null }>(this.#sql.save, [...row, expected], what);
    const version = result?.updated ?? result?.inserted;
    if (version !== null && version !== undefined) {
      session.version = version;
      return;
    }
    throw await this.#conflict(data.id, expected);
  }

  /**
   * Saves `session` under `fence` and appends `event` to the stream of `sessionId` in `log` (a
   * {@link PostgresEventLog} on this store's database, `{ database: store.database }`) in ONE
   * statement: both are written or neither. For a write whose two halves must never be seen
   * apart, such as a lost root run's end (its `error` status and its terminal event). Appends the
   * log still holds are written first (call order). Rejects as `save` and `append` do: with
   * `RunFencedError` (nothing written) when the token is stale, `SessionConflictError` (nothing
   * written) when the stored version moved; with `SproutValidationError` for an event of the run
   * ledger (`sub_session_*`: the log may refuse those on its own, after the save).
   *
   * @example
   * const envelope = await store.saveAndAppend(root, fence, log, root.id, { type: 'error', message: 'interrupted' });
   */
  async saveAndAppend(
    session: Session,
    fence: RunFence,
    log: PostgresEventLog,
    sessionId: string,
    event: AgentEvent,
  ): Promise<SessionEventEnvelope> {
    const { data, row, expected } = this.#rowOf(session);
    await this.#open();
    const n = COLUMNS.length;
    const saved = `EXISTS (SELECT 1 FROM fence) AND ((SELECT version FROM updated) IS NOT NULL OR (SELECT version FROM inserted) IS NOT NULL)`;
    const part = log.appendPart(sessionId, event, fence, n + 4, saved);
    if (part.database !== this.#db) {
      throw new SproutValidationError('log', [
        { code: 'custom', path: [], message: 'the event log must share this store’s database (open it with { database: store.database })' },
      ]);
    }
    // Appends this log still holds go first: the stream keeps call order.
    await log.flush();
    const text = `${this.#sql.fencedSaveCtes}
          SELECT (SELECT version FROM updated) AS updated, (SELECT version FROM inserted) AS inserted,
                 EXISTS (SELECT 1 FROM fence) AS owned, a.seqs, a.lost, a.pruned_ids, a.pruned_through
          FROM ${part.call} a`;
    const [result] = await this.#query<{ updated: number | null; inserted: number | null; owned: boolean } & AppendRow>(
      namedStatement(text),
      [...row, expected ?? null, fence.runId, fence.epoch, ...part.values],
      `saving session ${data.id} with an event of ${sessionId}`,
    );
    if (result?.owned !== true) throw new RunFencedError(fence.runId, fence.epoch, `the save of session ${data.id}`);
    const version = result.updated ?? result.inserted;
    if (version === null || version === undefined) throw await this.#conflict(data.id, expected);
    session.version = version;
    return part.settle(result);
  }

  /** The conflict of a save that expected `expected` of session `id`, with the version stored now. */
  async #conflict(id: string, expected: number | undefined): Promise<SessionConflictError> {
    const [current] = await this.#query<{ version: number }>(this.#sql.version, [id], `saving session ${id}`);
    return new SessionConflictError(id, expected, current?.version);
  }

  /** `session` validated, with the values a save writes and the version it expects. */
  #rowOf(session: Session): { data: { id: string }; row: unknown[]; expected: number | undefined } {
    const parsed = sessionSchema.safeParse(session);
    if (!parsed.success) throw new SproutValidationError('session', parsed.error.issues);
    const { version: expected, ...data } = parsed.data;
    const json = sessionToJson(data);
    const summary = summaryColumnsOf(data);
    const row = [
      data.id,
      data.kind,
      data.parent_session_id ?? null,
      data.root_session_id,
      data.spawn_depth,
      data.metadata.last_run_status ?? null,
      data.created_at,
      data.updated_at,
      json,
      summary.title,
      summary.model,
      JSON.stringify(summary.metadata),
      summary.message_count,
      summary.last_message_id,
      summary.last_message_role,
      summary.last_message_at,
      summary.has_attachments,
      summary.last_activity_at,
    ];
    return { data, row, expected };
  }

  /**
   * Removes a session; resolves `true` when it existed.
   *
   * @example
   * await store.delete('child-1');
   */
  async delete(id: string): Promise<boolean> {
    return (await this.#query(this.#sql.delete, [id], `deleting session ${id}`)).length > 0;
  }

  /**
   * The direct children of `parentSessionId`, sorted by `created_at`, then `id` (byte order).
   * Invalid rows are skipped and reported.
   *
   * @example
   * const children = await store.listChildren('root-1');
   */
  async listChildren(parentSessionId: string): Promise<Session[]> {
    return this.#decodeAll(await this.#query<SessionRow>(this.#sql.children, [parentSessionId], `listing children of ${parentSessionId}`));
  }

  /**
   * `kind: 'child'` sessions whose `metadata.last_run_status` is one of `statuses`, sorted by
   * `created_at`, then `id`. Invalid rows are skipped and reported.
   *
   * @example
   * const interrupted = await store.listByRunStatus(['running', 'pending']);
   */
  async listByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    if (statuses.length === 0) return [];
    return this.#decodeAll(await this.#query<SessionRow>(this.#sql.byStatus, [[...statuses]], 'listing sessions by run status'));
  }

  /**
   * `kind: 'root'` sessions whose `metadata.last_run_status` is one of `statuses` (a root's own
   * run), sorted by `created_at`, then `id`. Read once by recovery at start (not indexed: roots
   * are a small share of the sessions). Invalid rows are skipped and reported.
   *
   * @example
   * const interruptedRoots = await store.listRootsByRunStatus(['running', 'pending']);
   */
  async listRootsByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    if (statuses.length === 0) return [];
    return this.#decodeAll(await this.#query<SessionRow>(this.#sql.rootsByStatus, [[...statuses]], 'listing root sessions by run status'));
  }

  /**
   * One page of summaries matching the query, read from the summary columns only (never `data`)
   * through the `created_at, id` / last-activity indexes: O(`limit`) per page. Rejects with
   * {@link SproutValidationError} for an invalid query.
   *
   * @example
   * const { items, nextCursor } = await store.listSummaries({ kind: 'root', limit: 50 });
   */
  async listSummaries(query: SessionSummaryQuery): Promise<SessionSummaryPage> {
    return this.#summaries.page(parseSummaryQuery(query));
  }

  /**
   * One page of the run index (`runs`, written by the schema's event logs in the same
   * transaction as the events, by any process), newest first, through an index per filter.
   * Rejects with {@link SproutValidationError} for an invalid query.
   *
   * @example
   * const { runs, nextCursor } = await store.queryRuns({ status: ['error'], limit: 50 });
   */
  async queryRuns(query: RunQuery): Promise<RunPage> {
    return this.#runs.queryRuns(query);
  }

  /**
   * One indexed run by id, or `undefined`.
   *
   * @example
   * const run = await store.getRun('r1');
   */
  async getRun(runId: string): Promise<RunRecord | undefined> {
    return this.#runs.getRun(runId);
  }

  /**
   * How many sessions match the filter (an indexed `count(*)`).
   *
   * @example
   * const roots = await store.countSummaries({ kind: 'root' });
   */
  async countSummaries(filter: SessionSummaryFilter): Promise<number> {
    return this.#summaries.count(parseSummaryFilter(filter));
  }

  /**
   * The {@link PostgresEventLog} of this store's schema, so replay, `seq` and the run ledger
   * survive a restart with the sessions (what the scheduler uses when given no log). The same log
   * is returned on later calls (the first call's options win); {@link close} closes it.
   *
   * @example
   * const log = store.openEventLog({ retention: 1000, onError: console.error });
   */
  openEventLog(options: CompanionEventLogOptions): PostgresEventLog {
    this.#eventLog ??= new PostgresEventLog({
      database: this.#db,
      retention: options.retention,
      onError: (error) => options.onError(error),
    });
    return this.#eventLog;
  }

  /**
   * Closes the event log (writing what it has pending), then ends the pool when the store made it.
   * Idempotent; later calls of the other methods reject with `StoreUnavailableError`.
   *
   * @example
   * await store.close();
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      try {
        // Answered only once written (alone after a failed batch included).
        await Promise.allSettled([...this.#accepted]);
        await this.#eventLog?.close();
      } finally {
        if (this.#ownsDatabase) await this.#db.close();
      }
    })();
    return this.#closed;
  }

  /** One fenced save in its own statement (also while `close()` waits for the saves already queued). */
  async #saveFencedAlone(row: FencedSaveRow): Promise<FencedSaveOutcome> {
    const [result] = await this.#run<{ updated: number | null; inserted: number | null; owned: boolean }>(
      this.#sql.saveFenced,
      [...row.values, row.expected, row.fenceRunId, row.fenceEpoch],
      `saving session ${row.id}`,
    );
    const version = result?.updated ?? result?.inserted;
    return { owned: result?.owned === true, version: version === null || version === undefined ? undefined : version };
  }

  async #open(): Promise<void> {
    if (this.#closed || this.#db.closed) throw this.#db.closedError();
    await this.#db.ready();
  }

  async #query<R extends object>(text: string | NamedStatement, values: unknown[], what: string): Promise<R[]> {
    await this.#open();
    return this.#run<R>(text, values, what);
  }

  /** {@link #query} without the closed check. */
  async #run<R extends object>(text: string | NamedStatement, values: unknown[], what: string): Promise<R[]> {
    try {
      return await this.#db.query<R & Record<string, unknown>>(text, values, what);
    } catch (error) {
      // jsonb cannot hold U+0000 (SQLSTATE 22P05): the session is refused, not the store unavailable.
      if ((error as { cause?: { code?: unknown } }).cause?.code === '22P05') {
        throw new SproutValidationError('session', [
          { code: 'custom', path: [], message: 'contains the character U+0000, which PostgreSQL jsonb cannot store' },
        ]);
      }
      throw error instanceof SproutError ? error : this.#db.unavailable(error, what);
    }
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
    try {
      this.#onInvalidRow?.(error);
    } catch {
      // A throwing hook must not hide the valid rows.
    }
  }
}

/** Validates a stored row; returns the error instead of throwing it. */
function decodeRow(row: SessionRow): Session | InvalidSessionDataError {
  return decodeStoredSession(row.id, row.data, row.version);
}

/**
 * The fenced save: with a version (`$n+1`), update that version or insert when absent; without
 * one (`$n+1` null), replace whatever is stored — both only while `run_fences` holds the run
 * (`$n+2`) at the writer's epoch (`$n+3`). Answers `updated`, `inserted` and `owned`.
 */
function fencedSave(
  table: string,
  fences: string,
  names: readonly string[],
  params: string,
  assign: (from: (name: string, i: number) => string) => string,
): string {
  return `${fencedSaveCtes(table, fences, names, params, assign)}
          SELECT (SELECT version FROM updated) AS updated, (SELECT version FROM inserted) AS inserted,
                 EXISTS (SELECT 1 FROM fence) AS owned`;
}

/**
 * The `WITH` list of a fenced save (`fence`, `updated`, `inserted`): the session's columns are
 * `$1`…`$n`, then the expected version, the run id and the epoch of the token.
 */
function fencedSaveCtes(
  table: string,
  fences: string,
  names: readonly string[],
  params: string,
  assign: (from: (name: string, i: number) => string) => string,
): string {
  const n = names.length;
  const values = (i: number): string => `$${i + 1}::${COLUMNS[i]![1]}`;
  return `WITH fence AS (
            SELECT 1 AS ok FROM ${fences} WHERE run_id = $${n + 2}::text AND epoch = $${n + 3}::bigint FOR SHARE
          ), updated AS (
            UPDATE ${table} SET ${assign((_, i) => values(i))}, version = version + 1
            WHERE id = $1::text AND ($${n + 1}::integer IS NULL OR version = $${n + 1}::integer) AND EXISTS (SELECT 1 FROM fence)
            RETURNING version
          ), inserted AS (
            INSERT INTO ${table} (${names.join(', ')}, version)
            SELECT ${params}, 1 WHERE NOT EXISTS (SELECT 1 FROM updated) AND EXISTS (SELECT 1 FROM fence)
            ON CONFLICT (id) DO NOTHING RETURNING version
          )`;
}
