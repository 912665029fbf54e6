/**
 * Session listings without messages: what {@link SessionStore.listSummaries} returns and takes.
 * A listing reads only these columns, so a page costs the same at 100 sessions as at 100,000.
 */
import type { MessageRole, RunStatusMetadata, SessionKind } from './wire-types.js';

/**
 * The largest `limit` a store accepts in one {@link SessionSummaryQuery}; a larger one is refused
 * with `SproutValidationError`.
 *
 * @example
 * const page = await store.listSummaries!({ limit: MAX_SESSION_SUMMARY_PAGE });
 */
export const MAX_SESSION_SUMMARY_PAGE = 1000;

/**
 * The order of a listing:
 * - `created`: oldest first (`created_at`, then `id`), the default;
 * - `recent`: most recent activity first (`last_activity_at`, then `created_at`, then `id`, all
 *   descending), the order of Bamboo's session list.
 *
 * @example
 * const order: SessionSummaryOrder = 'recent';
 */
export type SessionSummaryOrder = 'created' | 'recent';

/**
 * Which sessions a listing holds; every field given must match (AND). Empty: every session.
 *
 * @example
 * const runningChildren: SessionSummaryFilter = { parent: 'root-1', kind: 'child', status: 'running' };
 */
export interface SessionSummaryFilter {
  /** Only the direct children of this session. */
  parent?: string | undefined;
  /** Only the sessions of this tree (`root_session_id`; the root itself included). */
  root?: string | undefined;
  /** Only roots or only children. */
  kind?: SessionKind | undefined;
  /** Only sessions whose `metadata.last_run_status` is this. */
  status?: RunStatusMetadata | undefined;
}

/**
 * One page request of {@link SessionStore.listSummaries}. Page with the opaque `cursor` the
 * previous page returned (keyset: stable while sessions are added), or with `offset` for APIs
 * that count rows (Bamboo's `offset`); not both. An invalid query (a `limit` outside
 * 1…{@link MAX_SESSION_SUMMARY_PAGE}, a cursor that was not returned for this `order`) is refused
 * with `SproutValidationError`.
 *
 * @example
 * const first = await store.listSummaries!({ kind: 'root', limit: 50 });
 * const second = first.nextCursor ? await store.listSummaries!({ kind: 'root', limit: 50, cursor: first.nextCursor }) : undefined;
 */
export interface SessionSummaryQuery extends SessionSummaryFilter {
  /** Sessions per page, 1…{@link MAX_SESSION_SUMMARY_PAGE}. */
  limit: number;
  /** The order of the page: `created` (`created_at`, then `id`) or `recent` (last activity first). @default 'created' */
  order?: SessionSummaryOrder | undefined;
  /** A page's `nextCursor`: the page after it (same `order`). */
  cursor?: string | undefined;
  /** Rows to skip (instead of a cursor). @default 0 */
  offset?: number | undefined;
}

/**
 * The last message of a session, as a listing shows it.
 *
 * @example
 * const last: SessionSummaryMessage = { id: 'm2', role: 'user', created_at: '2026-01-01T00:00:01.000Z' };
 */
export interface SessionSummaryMessage {
  /** The message's id. */
  id: string;
  /** Who wrote it. */
  role: MessageRole;
  /** When it was written. */
  created_at: string;
}

/**
 * A session without its messages: the fields a listing shows, written by the store on every save
 * (so a listing never reads the messages). Unknown extra fields of the session are not included.
 *
 * @example
 * const summary: SessionSummary = {
 *   id: 'c1', title: 'Research', kind: 'child', parent_session_id: 'root', root_session_id: 'root', spawn_depth: 1,
 *   model: 'gpt-4o', metadata: { last_run_status: 'completed' }, created_at: now, updated_at: now, version: 3,
 *   message_count: 4, last_activity_at: now, has_attachments: false, last_run_status: 'completed',
 * };
 */
export interface SessionSummary {
  /** Unique id of the session. */
  id: string;
  /** Its title. */
  title: string;
  /** `root` or `child`. */
  kind: SessionKind;
  /** For a child: the session that spawned it. */
  parent_session_id?: string | undefined;
  /** The root of its tree. */
  root_session_id: string;
  /** Depth in the tree (0 for a root). */
  spawn_depth: number;
  /** Its model. */
  model: string;
  /** Its string metadata (run status, run id, run error, UI flags). */
  metadata: Record<string, string>;
  /** When it was created. */
  created_at: string;
  /** When it was last saved (as the session says). */
  updated_at: string;
  /** The store's optimistic-concurrency version. */
  version: number;
  /** How many messages it has. */
  message_count: number;
  /** Its last message, when it has one. */
  last_message?: SessionSummaryMessage | undefined;
  /** The later of `updated_at` and the last message's `created_at` (the `recent` order). */
  last_activity_at: string;
  /** Some message carries a non-empty `attachments` array (Bamboo messages). */
  has_attachments: boolean;
  /** `metadata.last_run_status`: the status of its latest run (a {@link RunStatusMetadata} when Sprout wrote it). */
  last_run_status?: string | undefined;
  /** `metadata.last_run_id`: the id of its latest run. */
  last_run_id?: string | undefined;
  /** `metadata.last_run_error`: why its latest run failed. */
  last_run_error?: string | undefined;
}

/**
 * One page of {@link SessionStore.listSummaries}.
 *
 * @example
 * const { items, nextCursor } = await store.listSummaries!({ limit: 50 });
 */
export interface SessionSummaryPage {
  /** The summaries, in the query's order. */
  items: SessionSummary[];
  /** Pass as `cursor` for the next page; absent on the last page. */
  nextCursor?: string | undefined;
}
