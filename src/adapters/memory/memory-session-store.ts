import { sessionSchema } from '../../../machines/session.schema.js';
import type { RunStatusMetadata, Session } from '../../../machines/session.schema.js';
import { SessionConflictError, SproutValidationError } from '../../errors.js';
import type { SessionStore, SessionStoreCapabilities } from '../../api/ports.js';
import type { SessionSummary, SessionSummaryFilter, SessionSummaryPage, SessionSummaryQuery } from '../../api/session-summary.js';
import { filterSummaries, pageOfSummaries, parseSummaryFilter, parseSummaryQuery, summaryOf } from '../session-summaries.js';
import { clonePlain } from './clone-plain.js';

/**
 * A {@link SessionStore} kept in process memory: for tests, demos and single-process embedding.
 *
 * - Stores and returns deep copies (`structuredClone`), so callers never alias stored data.
 * - Validates every save with `sessionSchema` (a bad session throws {@link SproutValidationError}
 *   and nothing is stored).
 * - Optimistic concurrency: each stored session carries an integer `version`. A save whose
 *   `session.version` differs from the stored one rejects with {@link SessionConflictError};
 *   a first save accepts any version. A successful save stores `stored + 1` (1 for a new
 *   session) and writes it back into the object it was given, so the caller can save again.
 * - `listChildren` and `listByRunStatus` use secondary indexes (parent id, run status), so they
 *   cost O(matches), not O(all sessions). Results are sorted by `created_at`, then `id`.
 * - `listSummaries` keeps a summary per session (written on save) and filters and sorts those:
 *   O(sessions) per page (O(children) with a `parent` filter), fine for the sizes it is meant for.
 *
 * @example
 * const store = new MemorySessionStore();
 * await store.save(session);              // session.version is now 1
 * const copy = await store.load(session.id);
 * copy!.title = 'changed';                // does not touch the stored session
 * await store.save(session);              // version 1 matches: stored version becomes 2
 */
export class MemorySessionStore implements SessionStore {
  /** Loads are validated copies (checked on save); `listByRunStatus` is indexed; summaries are listed. */
  readonly capabilities: SessionStoreCapabilities = { validatedLoads: true, runStatusIndex: true, summaries: true };
  readonly #sessions = new Map<string, Session>();
  /** id → the session's summary (no messages), replaced on every save. */
  readonly #summaries = new Map<string, SessionSummary>();
  /** parent_session_id → ids of its children. */
  readonly #childrenByParent = new Map<string, Set<string>>();
  /** last_run_status → ids of child sessions with that status. */
  readonly #childrenByStatus = new Map<string, Set<string>>();
  /** last_run_status → ids of root sessions with that status (a root's own run). */
  readonly #rootsByStatus = new Map<string, Set<string>>();

  /**
   * Number of stored sessions.
   *
   * @example
   * new MemorySessionStore().size; // 0
   */
  get size(): number {
    return this.#sessions.size;
  }

  /**
   * A deep copy of the stored session (with its `version`), or `undefined`.
   *
   * @example
   * const session = await store.load('child-1');
   */
  load(id: string): Promise<Session | undefined> {
    return settle(() => {
      const stored = this.#sessions.get(id);
      return stored === undefined ? undefined : clonePlain(stored);
    });
  }

  /**
   * Validates and stores a deep copy of `session`, checking and bumping its `version`.
   *
   * @example
   * const loaded = (await store.load('child-1'))!;
   * loaded.metadata.last_run_status = 'running';
   * await store.save(loaded); // rejects with SessionConflictError if someone saved in between
   */
  save(session: Session): Promise<void> {
    return settle(() => {
      const parsed = sessionSchema.safeParse(session);
      if (!parsed.success) throw new SproutValidationError('session', parsed.error.issues);
      const stored = this.#sessions.get(parsed.data.id);
      // No version: the caller did not read the session first; last write wins (versioned saves are checked).
      if (stored !== undefined && parsed.data.version !== undefined && parsed.data.version !== stored.version) {
        throw new SessionConflictError(parsed.data.id, parsed.data.version, stored.version);
      }
      const next = (stored?.version ?? 0) + 1;
      const copy = cloneForStore(parsed.data);
      copy.version = next;
      if (stored !== undefined) this.#unindex(stored);
      this.#sessions.set(copy.id, copy);
      this.#summaries.set(copy.id, summaryOf(copy));
      this.#index(copy);
      session.version = next;
    });
  }

  /**
   * Removes a session; resolves `true` when it existed. Its children are left in place.
   *
   * @example
   * await store.delete('child-1'); // true, then false on a second call
   */
  delete(id: string): Promise<boolean> {
    return settle(() => {
      const stored = this.#sessions.get(id);
      if (stored === undefined) return false;
      this.#unindex(stored);
      this.#sessions.delete(id);
      this.#summaries.delete(id);
      return true;
    });
  }

  /**
   * Deep copies of the direct children of `parentSessionId`, sorted by `created_at`, then `id`.
   *
   * @example
   * const children = await store.listChildren('root-1');
   */
  listChildren(parentSessionId: string): Promise<Session[]> {
    return settle(() => this.#collect(this.#childrenByParent.get(parentSessionId)));
  }

  /**
   * Deep copies of the `kind: 'child'` sessions whose `metadata.last_run_status` is one of
   * `statuses`, sorted by `created_at`, then `id`. Used by scheduler recovery.
   *
   * @example
   * const interrupted = await store.listByRunStatus(['running', 'pending']);
   */
  listByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return settle(() => {
      const ids = new Set<string>();
      for (const status of new Set(statuses)) {
        for (const id of this.#childrenByStatus.get(status) ?? []) ids.add(id);
      }
      return this.#collect(ids);
    });
  }

  /**
   * Deep copies of the `kind: 'root'` sessions whose `metadata.last_run_status` is one of
   * `statuses` (a root's own run), sorted by `created_at`, then `id`. Used by scheduler recovery.
   *
   * @example
   * const interruptedRoots = await store.listRootsByRunStatus(['running', 'pending']);
   */
  listRootsByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return settle(() => {
      const ids = new Set<string>();
      for (const status of new Set(statuses)) {
        for (const id of this.#rootsByStatus.get(status) ?? []) ids.add(id);
      }
      return this.#collect(ids);
    });
  }

  /**
   * One page of summaries (copies, no messages) matching the query, in its order, with the cursor
   * of the next page. Rejects with {@link SproutValidationError} for an invalid query.
   *
   * @example
   * const { items, nextCursor } = await store.listSummaries({ kind: 'root', limit: 50 });
   */
  listSummaries(query: SessionSummaryQuery): Promise<SessionSummaryPage> {
    return settle(() => {
      const parsed = parseSummaryQuery(query);
      const page = pageOfSummaries(this.#candidates(parsed.filter), parsed);
      return { ...page, items: page.items.map((summary) => clonePlain(summary)) };
    });
  }

  /**
   * How many sessions match the filter. Rejects with {@link SproutValidationError} for an invalid one.
   *
   * @example
   * const roots = await store.countSummaries({ kind: 'root' });
   */
  countSummaries(filter: SessionSummaryFilter): Promise<number> {
    return settle(() => {
      const parsed = parseSummaryFilter(filter);
      return filterSummaries(this.#candidates(parsed), parsed).length;
    });
  }

  /** The summaries a filter can match: a parent's children (indexed), else all. */
  *#candidates(filter: SessionSummaryFilter): Iterable<SessionSummary> {
    if (filter.parent === undefined) {
      yield* this.#summaries.values();
      return;
    }
    for (const id of this.#childrenByParent.get(filter.parent) ?? []) {
      const summary = this.#summaries.get(id);
      if (summary !== undefined) yield summary;
    }
  }

  #collect(ids: Iterable<string> | undefined): Session[] {
    const found: Session[] = [];
    for (const id of ids ?? []) {
      const stored = this.#sessions.get(id);
      if (stored !== undefined) found.push(stored);
    }
    return found.sort(byCreatedAtThenId).map((session) => clonePlain(session));
  }

  #index(session: Session): void {
    if (session.parent_session_id !== undefined) addTo(this.#childrenByParent, session.parent_session_id, session.id);
    const status = session.metadata.last_run_status;
    if (session.kind === 'child' && status !== undefined) addTo(this.#childrenByStatus, status, session.id);
    if (session.kind === 'root' && status !== undefined) addTo(this.#rootsByStatus, status, session.id);
  }

  #unindex(session: Session): void {
    if (session.parent_session_id !== undefined) removeFrom(this.#childrenByParent, session.parent_session_id, session.id);
    const status = session.metadata.last_run_status;
    if (status !== undefined) {
      removeFrom(this.#childrenByStatus, status, session.id);
      removeFrom(this.#rootsByStatus, status, session.id);
    }
  }
}

/** Runs `fn` and turns its result or exception into a promise (so misuse rejects, never throws). */
function settle<T>(fn: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(fn()));
}

/** A deep copy for storage; a session that cannot be cloned (e.g. holds a function) is invalid. */
function cloneForStore(session: Session): Session {
  try {
    return clonePlain(session);
  } catch (error) {
    const message = `session is not cloneable: ${error instanceof Error ? error.message : String(error)}`;
    throw new SproutValidationError('session', [{ code: 'custom', path: [], message }]);
  }
}

/** Orders sessions by `created_at` (RFC 3339 strings sort by time), then `id`. */
function byCreatedAtThenId(a: Session, b: Session): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? -1 : 1;
  if (a.id === b.id) return 0;
  return a.id < b.id ? -1 : 1;
}

function addTo(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids === undefined) index.set(key, new Set([id]));
  else ids.add(id);
}

function removeFrom(index: Map<string, Set<string>>, key: string, id: string): void {
  const ids = index.get(key);
  if (ids === undefined) return;
  ids.delete(id);
  if (ids.size === 0) index.delete(key);
}
