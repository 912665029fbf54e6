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
      // Every running / usage / end change of a batch in one statement, folded per run in call
      // order (see #fold): a run's first start (only while it is queued), its last usage, its last end.
      update: `UPDATE ${s}.runs r SET
                 started_at = CASE WHEN u.started IS NOT NULL AND r.status = 'queued' THEN u.started ELSE r.started_at END,
                 status = CASE WHEN u.status IS NOT NULL THEN u.status
                               WHEN u.started IS NOT NULL AND r.status = 'queued' THEN 'running' ELSE r.status END,
                 prompt_tokens = CASE WHEN u.total IS NOT NULL THEN u.prompt ELSE r.prompt_tokens END,
                 completion_tokens = CASE WHEN u.total IS NOT NULL THEN u.completion ELSE r.completion_tokens END,
                 total_tokens = coalesce(u.total, r.total_tokens),
                 reason = CASE WHEN u.status IS NOT NULL THEN u.reason ELSE r.reason END,
                 error = CASE WHEN u.status IS NOT NULL THEN u.error ELSE r.error END,
                 ended_at = CASE WHEN u.status IS NOT NULL THEN u.ended ELSE r.ended_at END,
                 ended_seq = CASE WHEN u.status IS NOT NULL THEN u.seq ELSE r.ended_seq END
               FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::bigint[])
                    AS u(run, started, prompt, completion, total, status, reason, error, ended, seq)
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
    const announced = changes.filter((c): c is Change<'announce'> => c.kind === 'announce');
    // Announces first: an update of a run announced in the same batch finds its row.
    if (announced.length > 0) {
      await client.query(this.#sql.announce, [
        announced.map((c) => c.runId),
        announced.map((c) => c.parentSessionId),
        announced.map((c) => c.childSessionId),
        announced.map((c) => c.title),
        announced.map((c) => c.at),
        announced.map((c) => c.seq),
      ]);
    }
    const folded = fold(changes);
    if (folded.length === 0) return;
    await client.query(this.#sql.update, [
      folded.map((u) => u.runId),
      folded.map((u) => u.started),
      folded.map((u) => u.prompt),
      folded.map((u) => u.completion),
      folded.map((u) => u.total),
      folded.map((u) => u.status),
      folded.map((u) => u.reason),
      folded.map((u) => u.error),
      folded.map((u) => u.ended),
      folded.map((u) => u.seq),
    ]);
  }
}

/** A run's updates of one batch, folded. */
interface Folded {
  runId: string;
  started: string | null;
  prompt: number | null;
  completion: number | null;
  total: number | null;
  status: string | null;
  reason: string | null;
  error: string | null;
  ended: string | null;
  seq: number | null;
}

/**
 * The running / usage / end changes of a batch folded per run, as applying them one by one in
 * call order would leave the row: the first start before any end (a start after an end, or of a
 * run no longer queued, changes nothing), the last usage, the last end.
 */
function fold(changes: readonly RunIndexChange[]): Folded[] {
  const byRun = new Map<string, Folded>();
  for (const change of changes) {
    if (change.kind === 'announce') continue;
    let run = byRun.get(change.runId);
    if (run === undefined) {
      run = {
        runId: change.runId,
        started: null,
        prompt: null,
        completion: null,
        total: null,
        status: null,
        reason: null,
        error: null,
        ended: null,
        seq: null,
      };
      byRun.set(change.runId, run);
    }
    if (change.kind === 'running') {
      if (run.started === null && run.status === null) run.started = change.at;
    } else if (change.kind === 'usage') {
      run.prompt = Math.round(change.prompt);
      run.completion = Math.round(change.completion);
      run.total = Math.round(change.total);
    } else {
      run.status = change.status;
      run.reason = change.reason;
      run.error = change.error;
      run.ended = change.at;
      run.seq = change.seq;
    }
  }
  return [...byRun.values()];
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
