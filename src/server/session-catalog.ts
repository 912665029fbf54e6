import { Subject, filter, map, type Observable } from 'rxjs';
import type { Session } from '../../machines/session.schema.js';
import type { SessionStore } from '../api/ports.js';
import type { SessionSummary, SessionSummaryFilter, SessionSummaryPage, SessionSummaryQuery } from '../api/session-summary.js';
import { MAX_SESSION_SUMMARY_PAGE } from '../api/session-summary.js';
import { InvalidSessionDataError } from '../errors.js';
import { filterSummaries, pageOfSummaries, parseSummaryFilter, parseSummaryQuery, summaryOf } from '../adapters/session-summaries.js';

/**
 * Lists sessions for the API, a page at a time and without their messages. A store with
 * `listSummaries` (every Sprout store) answers from its own indexed summary columns, so a page
 * costs O(page), the same after a restart and on every instance sharing the database. For a
 * store without it, the catalog walks the roots it knows (created through the API, or
 * {@link SessionCatalog.addRoot}) with `listChildren` and pages in memory — such a store lists
 * only those trees. No SQL here: the catalog only calls the store's port.
 *
 * @example
 * const catalog = new SessionCatalog(store);
 * const { items, nextCursor } = await catalog.page({ kind: 'root', limit: 50 });
 */
export class SessionCatalog {
  readonly #store: SessionStore;
  readonly #roots = new Set<string>();
  readonly #deleted = new Subject<string>();

  constructor(store: SessionStore) {
    this.#store = store;
  }

  /** Remembers a root, for stores that cannot list summaries. */
  addRoot(id: string): void {
    this.#roots.add(id);
  }

  /** Forgets a deleted root. */
  removeRoot(id: string): void {
    this.#roots.delete(id);
  }

  /**
   * Announces that a session was deleted through this server, so its open streams end with a
   * final frame even when the scheduler's stream does not complete by itself (the distributed
   * front door's streams follow the shared log and never learn of a delete).
   *
   * @example
   * catalog.markDeleted(childId);
   */
  markDeleted(id: string): void {
    this.#deleted.next(id);
  }

  /**
   * Emits once per {@link markDeleted} of `id`.
   *
   * @example
   * catalog.deleted$(id).subscribe(() => console.log('deleted'));
   */
  deleted$(id: string): Observable<void> {
    return this.#deleted.pipe(
      filter((deleted) => deleted === id),
      map(() => undefined),
    );
  }

  /**
   * One page of session summaries (see `SessionStore.listSummaries`). Rejects with
   * `SproutValidationError` for an invalid query (a bad cursor, a limit outside 1…1000).
   *
   * @example
   * const page = await catalog.page({ root: rootId, limit: 500, cursor });
   */
  async page(query: SessionSummaryQuery): Promise<SessionSummaryPage> {
    if (typeof this.#store.listSummaries === 'function') return this.#store.listSummaries(query);
    const parsed = parseSummaryQuery(query);
    return pageOfSummaries(await this.#walk(), parsed);
  }

  /**
   * How many sessions match the filter.
   *
   * @example
   * const total = await catalog.count({ kind: 'root' });
   */
  async count(filter: SessionSummaryFilter): Promise<number> {
    if (typeof this.#store.countSummaries === 'function') return this.#store.countSummaries(filter);
    return filterSummaries(await this.#walk(), parseSummaryFilter(filter)).length;
  }

  /**
   * Every session with its messages, oldest first: pages through the summaries and loads each
   * session. Costs O(all sessions and messages) — a route should page summaries instead.
   *
   * @deprecated Use {@link SessionCatalog.page} (summaries, no messages); kept for callers that
   * still need whole sessions.
   * @example
   * const sessions = await catalog.list();
   */
  async list(): Promise<Session[]> {
    const out: Session[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.page({ limit: MAX_SESSION_SUMMARY_PAGE, ...(cursor === undefined ? {} : { cursor }) });
      for (const summary of page.items) {
        // A row that is not a valid session is skipped (the store reports it), as listings do.
        const session = await this.#store.load(summary.id).catch((error: unknown) => {
          if (error instanceof InvalidSessionDataError) return undefined;
          throw error;
        });
        if (session !== undefined) out.push(session);
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return out;
  }

  /**
   * Every descendant of a session, deepest first.
   *
   * @example
   * for (const descendant of await catalog.descendants(rootId)) await scheduler.deleteSession(descendant.id);
   */
  async descendants(id: string): Promise<Session[]> {
    const out: Session[] = [];
    const walk = async (parentId: string): Promise<void> => {
      for (const child of await this.#store.listChildren(parentId)) {
        await walk(child.id);
        out.push(child);
      }
    };
    await walk(id);
    return out;
  }

  /** The summaries of every session under the known roots (for stores without `listSummaries`). */
  async #walk(): Promise<SessionSummary[]> {
    const out: SessionSummary[] = [];
    const seen = new Set<string>();
    for (const rootId of this.#roots) {
      const root = await this.#store.load(rootId);
      if (!root) continue;
      const queue: Session[] = [root];
      while (queue.length > 0) {
        const session = queue.shift() as Session;
        if (seen.has(session.id)) continue;
        seen.add(session.id);
        out.push(summaryOf(session));
        queue.push(...(await this.#store.listChildren(session.id)));
      }
    }
    return out;
  }
}
