import type { SessionSummaryFilter, SessionSummaryOrder, SessionSummaryPage } from '../../api/session-summary.js';
import { encodeSummaryCursor, summaryFromRow, type ParsedSummaryQuery, type SummaryRow } from '../session-summaries.js';

/** The columns a summary is read from: never `data`. */
const SUMMARY_SELECT =
  'id, kind, parent_session_id, root_session_id, spawn_depth, created_at, updated_at, version, title, model, metadata, message_count, last_message_id, last_message_role, last_message_at, has_attachments, last_activity_at';

/** Each order's sort columns (all `COLLATE "C"`: byte order, as the other stores) and direction. */
const ORDERS: Record<SessionSummaryOrder, { keys: string[]; direction: 'ASC' | 'DESC' }> = {
  created: { keys: ['created_at', 'id'], direction: 'ASC' },
  recent: { keys: ['last_activity_at', 'created_at', 'id'], direction: 'DESC' },
};

/**
 * Runs one query of the store (its pool, its error mapping).
 *
 * @example
 * const query: SummaryQueryFn = (text, values, what) => db.query(text, values, what);
 */
export type SummaryQueryFn = (text: string, values: unknown[], what: string) => Promise<Record<string, unknown>[]>;

/** The filter's condition, its parameters numbered from `$1`. */
function whereOf(filter: SessionSummaryFilter): { clauses: string[]; values: unknown[] } {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    values.push(value);
    clauses.push(`${column} = $${values.length}::text`);
  };
  add('parent_session_id', filter.parent);
  add('root_session_id', filter.root);
  add('kind', filter.kind);
  add('last_run_status', filter.status);
  return { clauses, values };
}

/**
 * Reads session summaries from the PostgreSQL store's summary columns (migration 4),
 * keyset-paged through the `created_at, id` and last-activity indexes. Used by
 * `PostgresSessionStore.listSummaries`; the query is checked before it gets here.
 *
 * @example
 * const reader = new PostgresSummaryReader('"sprout".sessions', query);
 * const page = await reader.page(parseSummaryQuery({ kind: 'root', limit: 50 }));
 */
export class PostgresSummaryReader {
  readonly #table: string;
  readonly #query: SummaryQueryFn;

  constructor(table: string, query: SummaryQueryFn) {
    this.#table = table;
    this.#query = query;
  }

  /**
   * One page: `limit` summaries after the cursor's keys (or from `offset`), plus the next cursor
   * when one more row exists.
   *
   * @example
   * const { items, nextCursor } = await reader.page(parsed);
   */
  async page({ filter, order, limit, offset, after }: ParsedSummaryQuery): Promise<SessionSummaryPage> {
    const { keys, direction } = ORDERS[order];
    const { clauses, values } = whereOf(filter);
    if (after !== undefined) {
      const params = after.map((key) => {
        values.push(key);
        return `$${values.length}::text`;
      });
      clauses.push(`(${keys.join(', ')}) ${direction === 'ASC' ? '>' : '<'} (${params.join(', ')})`);
    }
    values.push(limit + 1, offset);
    const text = `SELECT ${SUMMARY_SELECT} FROM ${this.#table} ${clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`}
      ORDER BY ${keys.map((key) => `${key} ${direction}`).join(', ')} LIMIT $${values.length - 1}::integer OFFSET $${values.length}::integer`;
    const rows = (await this.#query(text, values, 'listing session summaries')) as unknown as SummaryRow[];
    const items = rows.slice(0, limit).map((row) => summaryFromRow({ ...row, metadata: stringMap(row.metadata) }));
    const last = items.at(-1);
    return { items, ...(rows.length > limit && last !== undefined ? { nextCursor: encodeSummaryCursor(order, last) } : {}) };
  }

  /**
   * How many sessions match the filter.
   *
   * @example
   * await reader.count({ kind: 'root' });
   */
  async count(filter: SessionSummaryFilter): Promise<number> {
    const { clauses, values } = whereOf(filter);
    const text = `SELECT count(*)::integer AS count FROM ${this.#table} ${clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`}`;
    const [row] = await this.#query(text, values, 'counting sessions');
    return Number(row?.count ?? 0);
  }
}

/** The stored metadata (`jsonb`, given back as an object); a value that is not a string map reads as empty. */
function stringMap(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return {};
  return Object.fromEntries(Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
