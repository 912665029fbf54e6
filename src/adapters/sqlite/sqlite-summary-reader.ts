import type Database from 'better-sqlite3';
import type { SessionSummaryFilter, SessionSummaryOrder, SessionSummaryPage } from '../../api/session-summary.js';
import { encodeSummaryCursor, summaryFromRow, type ParsedSummaryQuery, type SummaryRow } from '../session-summaries.js';
import type { SqliteDatabase } from './sqlite-schema.js';

/** The columns a summary is read from: never `json`. */
const SUMMARY_SELECT =
  'id, kind, parent_session_id, root_session_id, spawn_depth, created_at, updated_at, version, title, model, metadata, message_count, last_message_id, last_message_role, last_message_at, has_attachments, last_activity_at';

/** Each order's sort columns and direction (the keyset a cursor holds, in this order). */
const ORDERS: Record<SessionSummaryOrder, { keys: string[]; direction: 'ASC' | 'DESC' }> = {
  created: { keys: ['created_at', 'id'], direction: 'ASC' },
  recent: { keys: ['last_activity_at', 'created_at', 'id'], direction: 'DESC' },
};

/** The filter's SQL condition and its parameters, in a fixed order (so statements are reused). */
function whereOf(filter: SessionSummaryFilter): { clauses: string[]; values: unknown[] } {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    clauses.push(`${column} = ?`);
    values.push(value);
  };
  add('parent_session_id', filter.parent);
  add('root_session_id', filter.root);
  add('kind', filter.kind);
  add('last_run_status', filter.status);
  return { clauses, values };
}

type StoredSummaryRow = Omit<SummaryRow, 'metadata'> & { metadata: string };

/**
 * Reads session summaries from the SQLite store's summary columns (migration 4), one prepared
 * statement per filter shape, keyset-paged through the `created_at, id` and last-activity indexes.
 * Used by `SqliteSessionStore.listSummaries`; the query is checked before it gets here.
 *
 * @example
 * const reader = new SqliteSummaryReader(db);
 * const page = reader.page(parseSummaryQuery({ kind: 'root', limit: 50 }));
 */
export class SqliteSummaryReader {
  readonly #db: SqliteDatabase;
  readonly #statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /**
   * One page: `limit` summaries after the cursor's keys (or from `offset`), plus the next cursor
   * when one more row exists.
   *
   * @example
   * const { items, nextCursor } = reader.page(parsed);
   */
  page({ filter, order, limit, offset, after }: ParsedSummaryQuery): SessionSummaryPage {
    const { keys, direction } = ORDERS[order];
    const { clauses, values } = whereOf(filter);
    if (after !== undefined) {
      clauses.push(`(${keys.join(', ')}) ${direction === 'ASC' ? '>' : '<'} (${keys.map(() => '?').join(', ')})`);
      values.push(...after);
    }
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    const sql = `SELECT ${SUMMARY_SELECT} FROM sessions ${where} ORDER BY ${keys.map((key) => `${key} ${direction}`).join(', ')} LIMIT ? OFFSET ?`;
    const rows = this.#statement(sql).all(...values, limit + 1, offset) as StoredSummaryRow[];
    const items = rows.slice(0, limit).map((row) => summaryFromRow({ ...row, metadata: parseMetadata(row.metadata) }));
    const last = items.at(-1);
    return { items, ...(rows.length > limit && last !== undefined ? { nextCursor: encodeSummaryCursor(order, last) } : {}) };
  }

  /**
   * How many sessions match the filter.
   *
   * @example
   * reader.count({ kind: 'root' });
   */
  count(filter: SessionSummaryFilter): number {
    const { clauses, values } = whereOf(filter);
    const sql = `SELECT count(*) AS count FROM sessions ${clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`}`;
    return (this.#statement(sql).get(...values) as { count: number }).count;
  }

  #statement(sql: string): Database.Statement<unknown[]> {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare<unknown[]>(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** The stored metadata column; a value that is not a string map reads as empty. */
function parseMetadata(text: string): Record<string, string> {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
    return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  } catch {
    return {};
  }
}
