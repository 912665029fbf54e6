import type Database from 'better-sqlite3';
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
import type { SqliteDatabase } from './sqlite-schema.js';

/**
 * Writes the `runs` table (migration 5) inside `SqliteEventLog`'s write transaction, so the index
 * never disagrees with the events. The run's root and model are read from the `sessions` row of
 * its child when there is one (else the root is the parent's own indexed root, or the parent).
 *
 * @example
 * const writer = new SqliteRunIndexWriter(db);
 * db.transaction(() => writer.apply(changes))();
 */
export class SqliteRunIndexWriter {
  readonly #stmt;

  constructor(db: SqliteDatabase) {
    this.#stmt = {
      announce: db.prepare<[{ run: string; parent: string; child: string; title: string | null; at: string; seq: number }]>(
        `INSERT OR IGNORE INTO runs (run_id, parent_session_id, child_session_id, root_session_id, title, model, status, created_at, started_seq)
         VALUES (@run, @parent, @child,
                 coalesce((SELECT root_session_id FROM sessions WHERE id = @child),
                          (SELECT root_session_id FROM runs WHERE child_session_id = @parent ORDER BY position DESC LIMIT 1),
                          @parent),
                 @title, (SELECT nullif(model, '') FROM sessions WHERE id = @child), 'queued', @at, @seq)`,
      ),
      running: db.prepare<[string, string]>(`UPDATE runs SET status = 'running', started_at = ? WHERE run_id = ? AND status = 'queued'`),
      usage: db.prepare<[number, number, number, string]>(
        'UPDATE runs SET prompt_tokens = ?, completion_tokens = ?, total_tokens = ? WHERE run_id = ?',
      ),
      end: db.prepare<[string, string | null, string | null, string, number, string]>(
        'UPDATE runs SET status = ?, reason = ?, error = ?, ended_at = ?, ended_seq = ? WHERE run_id = ?',
      ),
      delete: db.prepare<[string, string]>('DELETE FROM runs WHERE parent_session_id = ? OR child_session_id = ?'),
    };
  }

  /**
   * Applies the changes in order (call inside the events' transaction).
   *
   * @example
   * writer.apply([{ kind: 'running', runId: 'r1', at: now }]);
   */
  apply(changes: readonly RunIndexChange[]): void {
    for (const change of changes) {
      switch (change.kind) {
        case 'announce':
          this.#stmt.announce.run({
            run: change.runId,
            parent: change.parentSessionId,
            child: change.childSessionId,
            title: change.title,
            at: change.at,
            seq: change.seq,
          });
          break;
        case 'running':
          this.#stmt.running.run(change.at, change.runId);
          break;
        case 'usage':
          this.#stmt.usage.run(Math.round(change.prompt), Math.round(change.completion), Math.round(change.total), change.runId);
          break;
        case 'end':
          this.#stmt.end.run(change.status, change.reason, change.error, change.at, change.seq, change.runId);
          break;
      }
    }
  }

  /**
   * Forgets the runs a deleted session announced or ran.
   *
   * @example
   * writer.deleteSession('c1');
   */
  deleteSession(sessionId: string): void {
    this.#stmt.delete.run(sessionId, sessionId);
  }
}

/**
 * The SQL condition of a parsed query and its parameters (placeholders `?`). Shared shape with
 * the PostgreSQL reader, which numbers them.
 */
function whereOf({ filter, before }: ParsedRunQuery): { clauses: string[]; values: unknown[] } {
  const clauses: string[] = [];
  const values: unknown[] = [];
  const add = (column: string, value: string | undefined): void => {
    if (value === undefined) return;
    clauses.push(`${column} = ?`);
    values.push(value);
  };
  if (filter.status !== undefined) {
    clauses.push(`status IN (${filter.status.map(() => '?').join(', ')})`);
    values.push(...filter.status);
  }
  add('reason', filter.reason);
  add('root_session_id', filter.root);
  add('parent_session_id', filter.parent);
  add('child_session_id', filter.child);
  add('model', filter.model);
  if (filter.since !== undefined) {
    clauses.push('created_at >= ?');
    values.push(filter.since);
  }
  if (filter.until !== undefined) {
    clauses.push('created_at < ?');
    values.push(filter.until);
  }
  if (filter.q !== undefined) {
    clauses.push(`(child_session_id LIKE ? ESCAPE '\\' OR title LIKE ? ESCAPE '\\')`);
    values.push(likePattern(filter.q), likePattern(filter.q));
  }
  if (before !== undefined) {
    clauses.push('position < ?');
    values.push(before);
  }
  return { clauses, values };
}

/**
 * Reads the `runs` table: newest first (`position DESC`), keyset-paged, one prepared statement
 * per filter shape. `SqliteSessionStore.queryRuns` / `getRun` answer with it.
 *
 * @example
 * const reader = new SqliteRunIndexReader(db);
 * const { runs } = reader.queryRuns({ status: ['running'], limit: 50 });
 */
export class SqliteRunIndexReader implements RunIndex {
  readonly #db: SqliteDatabase;
  readonly #statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(db: SqliteDatabase) {
    this.#db = db;
  }

  /**
   * One page of runs, newest first.
   *
   * @example
   * const { runs, nextCursor } = reader.queryRuns({ parent: 'root', limit: 20 });
   */
  queryRuns(query: RunQuery): RunPage {
    const parsed = parseRunQuery(query);
    const { clauses, values } = whereOf(parsed);
    const where = clauses.length === 0 ? '' : `WHERE ${clauses.join(' AND ')}`;
    const rows = this.#statement(`SELECT ${RUN_COLUMNS} FROM runs ${where} ORDER BY position DESC LIMIT ?`).all(
      ...values,
      parsed.limit + 1,
    ) as RunRow[];
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
   * reader.getRun('r1')?.status;
   */
  getRun(runId: string): RunRecord | undefined {
    const row = this.#statement(`SELECT ${RUN_COLUMNS} FROM runs WHERE run_id = ?`).get(runId) as RunRow | undefined;
    return row === undefined ? undefined : runFromRow(row);
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
