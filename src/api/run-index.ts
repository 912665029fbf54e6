/**
 * The run index: one row per run a durable event log saw announced, kept up to date in the same
 * write as the run's events. What `GET /v1/runs?…` pages through and bulk actions select from.
 */
import type { MaybePromise } from './ports.js';

/**
 * The largest `limit` of one {@link RunQuery}; a larger one is refused with `SproutValidationError`.
 *
 * @example
 * const page = await index.queryRuns({ limit: MAX_RUN_PAGE });
 */
export const MAX_RUN_PAGE = 1000;

/**
 * Where an indexed run is: `queued` from its `sub_session_started`, `running` from its first
 * `sub_session_heartbeat`, then the end its `sub_session_completed` reports.
 *
 * @example
 * const live: RunIndexStatus[] = ['queued', 'running'];
 */
export type RunIndexStatus = 'queued' | 'running' | 'completed' | 'error' | 'cancelled' | 'skipped';

/**
 * Which runs a query selects; every field given must match (AND). Empty: every indexed run.
 *
 * @example
 * const stuck: RunFilter = { status: ['queued', 'running'], root: 'root-1', until: '2026-01-01T00:00:00.000Z' };
 */
export interface RunFilter {
  /** Only runs in one of these statuses. */
  status?: readonly RunIndexStatus[] | undefined;
  /** Only runs that ended with this reason (`user`, `parent`, `timeout`, `idle`, …). */
  reason?: string | undefined;
  /** Only runs of this tree (`root_session_id`). */
  root?: string | undefined;
  /** Only runs announced on this parent. */
  parent?: string | undefined;
  /** Only runs of this child session. */
  child?: string | undefined;
  /** Only runs of this model. */
  model?: string | undefined;
  /** Only runs announced at or after this RFC 3339 instant. */
  since?: string | undefined;
  /** Only runs announced before this RFC 3339 instant. */
  until?: string | undefined;
  /** Only runs whose title or child session id contains this text (case-insensitive for ASCII). */
  q?: string | undefined;
}

/**
 * One page request of {@link RunIndex.queryRuns}: newest first, keyset-paged with the opaque
 * `cursor` the previous page returned (stable while runs are added).
 *
 * @example
 * const first = await index.queryRuns({ status: ['error'], limit: 50 });
 * const next = first.nextCursor ? await index.queryRuns({ status: ['error'], limit: 50, cursor: first.nextCursor }) : undefined;
 */
export interface RunQuery extends RunFilter {
  /** Runs per page, 1…{@link MAX_RUN_PAGE}. */
  limit: number;
  /** A page's `nextCursor`: the runs after it. */
  cursor?: string | undefined;
}

/**
 * One indexed run (snake_case, as the API answers it).
 *
 * @example
 * const run: RunRecord = {
 *   run_id: 'r1', parent_session_id: 'root', child_session_id: 'c1', root_session_id: 'root', title: 'Research',
 *   status: 'completed', created_at: '2026-01-01T00:00:00.000Z', started_seq: 3,
 * };
 */
export interface RunRecord {
  /** The run's id. */
  run_id: string;
  /** The session whose stream announced it. */
  parent_session_id: string;
  /** The session it runs. */
  child_session_id: string;
  /** The root of its tree: the parent's own root when the parent's run is indexed, else the parent. */
  root_session_id: string;
  /** The title on `sub_session_started`. */
  title?: string | undefined;
  /** The child's model, when the store knew it at announcement (SQL adapters; not the memory log). */
  model?: string | undefined;
  /** Where it is. */
  status: RunIndexStatus;
  /** Why it ended the way it did (`sub_session_completed.reason`). */
  reason?: string | undefined;
  /** Its error (`sub_session_completed.error`). */
  error?: string | undefined;
  /** When it was announced (queued), RFC 3339 UTC: the write time of `sub_session_started`. */
  created_at: string;
  /** When it started running: the timestamp of its first heartbeat. */
  started_at?: string | undefined;
  /** When it ended: the write time of `sub_session_completed`. */
  ended_at?: string | undefined;
  /** Prompt tokens from the child's forwarded `complete`. */
  prompt_tokens?: number | undefined;
  /** Completion tokens from the child's forwarded `complete`. */
  completion_tokens?: number | undefined;
  /** Total tokens from the child's forwarded `complete`. */
  total_tokens?: number | undefined;
  /** Seq of its `sub_session_started` on the parent's stream. */
  started_seq: number;
  /** Seq of its `sub_session_completed` on the parent's stream. */
  ended_seq?: number | undefined;
}

/**
 * One page of {@link RunIndex.queryRuns}.
 *
 * @example
 * const { runs, nextCursor } = await index.queryRuns({ limit: 50 });
 */
export interface RunPage {
  /** The runs, newest first. */
  runs: RunRecord[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string | undefined;
}

/**
 * Reads the run index. `SqliteSessionStore` and `PostgresSessionStore` implement it over the
 * `runs` table their event log writes; `MemoryEventLog` keeps it in memory. An invalid query
 * (a `limit` outside 1…{@link MAX_RUN_PAGE}, a foreign cursor, a bad instant) is refused with
 * `SproutValidationError`.
 *
 * @example
 * const index: RunIndex = new SqliteSessionStore({ path: 'sprout.db' });
 * const { runs } = await index.queryRuns({ status: ['running'], limit: 20 });
 * const run = await index.getRun(runs[0]!.run_id);
 */
export interface RunIndex {
  /** One page of runs matching the query, newest first. */
  queryRuns(query: RunQuery): MaybePromise<RunPage>;
  /** One run by id, or `undefined`. */
  getRun(runId: string): MaybePromise<RunRecord | undefined>;
}

/**
 * True when `value` implements {@link RunIndex}.
 *
 * @example
 * if (isRunIndex(store)) await store.queryRuns({ limit: 10 });
 */
export function isRunIndex(value: unknown): value is RunIndex {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as Partial<RunIndex>).queryRuns === 'function' &&
    typeof (value as Partial<RunIndex>).getRun === 'function'
  );
}
