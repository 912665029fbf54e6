import { sessionSchema, type Session } from '../../machines/session.schema.js';
import type { SessionStore } from '../api/ports.js';

/** A store that can list every session (e.g. a {@link SqliteSessionStore} through its `database`). */
interface SqlBacked {
  database: { prepare(sql: string): { all(): unknown[] } };
}

const isSqlBacked = (store: SessionStore): store is SessionStore & SqlBacked => {
  const database = (store as Partial<SqlBacked>).database;
  return typeof database === 'object' && database !== null && typeof database.prepare === 'function';
};

/**
 * Lists sessions for the API. The `SessionStore` port has no "list all", so: a SQLite store is
 * read through its `database` (one query); any other store is walked from the roots this catalog
 * knows (created through the API, or {@link SessionCatalog.addRoot}) with `listChildren`.
 * Invalid rows are skipped.
 *
 * @example
 * const catalog = new SessionCatalog(store);
 * catalog.addRoot('root-1');
 * const sessions = await catalog.list();
 */
export class SessionCatalog {
  readonly #store: SessionStore;
  readonly #roots = new Set<string>();

  constructor(store: SessionStore) {
    this.#store = store;
  }

  /** Remembers a root, for stores that cannot list everything. */
  addRoot(id: string): void {
    this.#roots.add(id);
  }

  /** Forgets a deleted root. */
  removeRoot(id: string): void {
    this.#roots.delete(id);
  }

  /** Every session, oldest first. */
  async list(): Promise<Session[]> {
    if (isSqlBacked(this.#store)) {
      const rows = this.#store.database.prepare('SELECT json FROM sessions ORDER BY created_at, id').all() as { json: string }[];
      const sessions: Session[] = [];
      for (const row of rows) {
        try {
          const parsed = sessionSchema.safeParse(JSON.parse(row.json));
          if (parsed.success) sessions.push(parsed.data);
        } catch {
          // A row that is not JSON is not a session: the store reports such rows itself.
        }
      }
      return sessions;
    }
    const out: Session[] = [];
    const seen = new Set<string>();
    for (const rootId of this.#roots) {
      const root = await this.#store.load(rootId);
      if (!root) continue;
      const queue: Session[] = [root];
      while (queue.length > 0) {
        const session = queue.shift() as Session;
        if (seen.has(session.id)) continue;
        seen.add(session.id);
        out.push(session);
        queue.push(...(await this.#store.listChildren(session.id)));
      }
    }
    return out.sort((a, b) => (a.created_at === b.created_at ? a.id.localeCompare(b.id) : a.created_at.localeCompare(b.created_at)));
  }

  /** Every descendant of a session, deepest first. */
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
}
