import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';
import {
  encodeRunCursor,
  likePattern,
  parseRunQuery,
  RUN_COLUMNS,
  runFromRow,
  type ParsedRunQuery,
  type RunRow,
} from '../run-index-query.js';

/**
 * Runs one query of the store (its pool, its error mapping).
 *
 * @example
 * const query: RunQueryFn = (text, values, what) => db.query(text, values, what);
 */
export type RunQueryFn = (text: string, values: unknown[], what: string) => Promise<Record<string, unknown>[]>;

/** The condition of a parsed query, its parameters numbered from `$1`. */
function whereOf({ filter, before }: ParsedRunQuery): { clauses: string[]; values: unknown[] } {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const param = (value: unknown, cast: string): string => {
    values.push(value);
    return `$${values.length}::${cast}`;
  };
  const add = (column: string, value: string | undefined): void => {
    if (value !== undefined) clauses.push(`${column} = ${param(value, 'text')}`);
  };
  if (filter.status !== undefined) clauses.push(`status = ANY(${param([...filter.status], 'text[]')})`);
  add('reason', filter.reason);
  add('root_session_id', filter.root);
  add('parent_session_id', filter.parent);
  add('child_session_id', filter.child);
  add('model', filter.model);
  if (filter.since !== undefined) clauses.push(`created_at >= ${param(filter.since, 'text')}`);
  if (filter.until !== undefined) clauses.push(`created_at < ${param(filter.until, 'text')}`);
  if (filter.q !== undefined) {
    const pattern = param(likePattern(filter.q), 'text');
    clauses.push(`(child_session_id ILIKE ${pattern} OR title ILIKE ${pattern})`);
  }
  if (before !== undefined) clauses.push(`position < ${param(before, 'bigint')}`);
  return { clauses, values };
}

/**
 * Reads the `runs` table newest first (`position DESC`), keyset-paged through an index per
 * filter. `PostgresSessionStore.queryRuns` / `getRun` answer with it.
 *
 * @example
 * const reader = new PostgresRunIndexReader('"sprout".runs', query);
 * const { runs } = await reader.queryRuns({ status: ['running'], limit: 50 });
 */
export class PostgresRunIndexReader implements RunIndex {
  readonly #table: string;
  readonly #query: RunQueryFn;

  constructor(table: string, query: RunQueryFn) {
    this.#table = table;
    this.#query = query;
  }

  /**
   * One page of runs, newest first.
   *
   * @example
   * const { runs, nextCursor } = await reader.queryRuns({ parent: 'root', limit: 20 });
   */
  async queryRuns(query: RunQuery): Promise<RunPage> {
    const parsed = parseRunQuery(query);
    const { clauses, values } = whereOf(parsed);
    values.push(parsed.limit + 1);
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    const rows = (await this.#query(
      `SELECT ${RUN_COLUMNS} FROM ${this.#table} ${where} ORDER BY position DESC LIMIT $${values.length}::int`,
      values,
      'querying runs',
    )) as unknown as RunRow[];
    const page = rows.slice(0, parsed.limit);
    const last = page.at(-1);
    return {
      runs: page.map(runFromRow),
      ...(rows.length > parsed.limit && last !== undefined ? { nextCursor: encodeRunCursor(Number(last.position)) } : {}),
    };
  }

  /**
   * One run by id, or `undefined`.
   *
   * @example
   * (await reader.getRun('r1'))?.status;
   */
  async getRun(runId: string): Promise<RunRecord | undefined> {
    // No run id holds U+0000 (PostgreSQL text cannot): nothing to look up.
    if (runId.includes('\u0000')) return undefined;
    const rows = (await this.#query(
      `SELECT ${RUN_COLUMNS} FROM ${this.#table} WHERE run_id = $1::text`,
      [runId],
      'reading a run',
    )) as unknown as RunRow[];
    const row = rows[0];
    return row === undefined ? undefined : runFromRow(row);
  }
}
