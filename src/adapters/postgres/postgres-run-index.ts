import type { PoolClient } from 'pg';
import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';
import type { RunIndexChange } from '../../streams/run-index-change.js';
import {
  encodeRunCursor,
  likePattern,
  parseRunQuery,
  RUN_COLUMNS,
  runFromRow,
  type ParsedRunQuery,
  type RunRow,
} from '../run-index-query.js';

type Change<K extends RunIndexChange['kind']> = Extract<RunIndexChange, { kind: K }>;

/**
 * Writes the `runs` table (migration 5) inside `PostgresEventLog`'s write transaction, so the
 * index never disagrees with the events: consecutive changes of one kind share one statement
 * (`unnest` of arrays). A run's root and model come from its child's `sessions` row when there is
 * one, else the root is the parent's own indexed root, or the parent.
 *
 * @example
 * const writer = new PostgresRunIndexWriter('"sprout"');
 * await writer.apply(client, changes); // inside BEGIN … COMMIT
 */
export class PostgresRunIndexWriter {
  readonly #sql;

  /** @param s the quoted schema name. */
  constructor(s: string) {
    this.#sql = {
      announce: `INSERT INTO ${s}.runs (run_id, parent_session_id, child_session_id, root_session_id, title, model, status, created_at, started_seq)
                 SELECT a.run, a.parent, a.child,
                        coalesce((SELECT root_session_id FROM ${s}.sessions WHERE id = a.child),
                                 (SELECT root_session_id FROM ${s}.runs r WHERE r.child_session_id = a.parent ORDER BY position DESC LIMIT 1),
                                 a.parent),
                        a.title, (SELECT nullif(model, '') FROM ${s}.sessions WHERE id = a.child), 'queued', a.at, a.seq
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) WITH ORDINALITY
                      AS a(run, parent, child, title, at, seq, n)
                 ORDER BY a.n
                 ON CONFLICT (run_id) DO NOTHING`,
      running: `UPDATE ${s}.runs r SET status = 'running', started_at = u.at
                FROM unnest($1::text[], $2::text[]) AS u(run, at)
                WHERE r.run_id = u.run AND r.status = 'queued'`,
      usage: `UPDATE ${s}.runs r SET prompt_tokens = u.p, completion_tokens = u.c, total_tokens = u.t
              FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS u(run, p, c, t)
              WHERE r.run_id = u.run`,
      end: `UPDATE ${s}.runs r SET status = u.status, reason = u.reason, error = u.error, ended_at = u.at, ended_seq = u.seq
            FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[]) AS u(run, status, reason, error, at, seq)
            WHERE r.run_id = u.run`,
    };
  }

  /**
   * Applies the changes in order on `client` (call inside the events' transaction).
   *
   * @example
   * await writer.apply(client, [{ kind: 'running', runId: 'r1', at: now }]);
   */
  async apply(client: PoolClient, changes: readonly RunIndexChange[]): Promise<void> {
    for (let i = 0; i < changes.length;) {
      const kind = changes[i]!.kind;
      let j = i;
      while (j < changes.length && changes[j]!.kind === kind) j++;
      await client.query(...this.#statement(kind, changes.slice(i, j)));
      i = j;
    }
  }

  #statement(kind: RunIndexChange['kind'], group: RunIndexChange[]): [string, unknown[]] {
    switch (kind) {
      case 'announce': {
        const runs = group as Change<'announce'>[];
        return [
          this.#sql.announce,
          [
            runs.map((c) => c.runId),
            runs.map((c) => c.parentSessionId),
            runs.map((c) => c.childSessionId),
            runs.map((c) => c.title),
            runs.map((c) => c.at),
            runs.map((c) => c.seq),
          ],
        ];
      }
      case 'running': {
        const runs = group as Change<'running'>[];
        return [this.#sql.running, [runs.map((c) => c.runId), runs.map((c) => c.at)]];
      }
      case 'usage': {
        const runs = group as Change<'usage'>[];
        return [
          this.#sql.usage,
          [
            runs.map((c) => c.runId),
            runs.map((c) => Math.round(c.prompt)),
            runs.map((c) => Math.round(c.completion)),
            runs.map((c) => Math.round(c.total)),
          ],
        ];
      }
      case 'end': {
        const runs = group as Change<'end'>[];
        return [
          this.#sql.end,
          [
            runs.map((c) => c.runId),
            runs.map((c) => c.status),
            runs.map((c) => c.reason),
            runs.map((c) => c.error),
            runs.map((c) => c.at),
            runs.map((c) => c.seq),
          ],
        ];
      }
    }
  }
}

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
    const rows = (await this.#query(
      `SELECT ${RUN_COLUMNS} FROM ${this.#table} WHERE run_id = $1::text`,
      [runId],
      'reading a run',
    )) as unknown as RunRow[];
    const row = rows[0];
    return row === undefined ? undefined : runFromRow(row);
  }
}
