import { METADATA_KEYS, sessionSchema, type Session } from '../../machines/session.schema.js';
import type { SqliteSessionStore } from '../adapters/sqlite/sqlite-session-store.js';

/** One row of `sprout status`. */
export interface SessionListing {
  id: string;
  kind: string;
  parent_session_id: string | null;
  root_session_id: string | null;
  title: string;
  last_run_status: string | null;
  last_run_error: string | null;
  last_run_id: string | null;
  created_at: string;
  updated_at: string;
  /** Set when the stored row is not a valid session. */
  invalid?: string;
}

const toListing = (session: Session): SessionListing => ({
  id: session.id,
  kind: session.kind,
  parent_session_id: session.parent_session_id ?? null,
  root_session_id: session.root_session_id,
  title: session.title,
  last_run_status: session.metadata[METADATA_KEYS.status] ?? null,
  last_run_error: session.metadata[METADATA_KEYS.error] ?? null,
  last_run_id: session.metadata[METADATA_KEYS.runId] ?? null,
  created_at: session.created_at,
  updated_at: session.updated_at,
});

interface Row {
  id: string;
  kind: string;
  parent_session_id: string | null;
  root_session_id: string;
  created_at: string;
  updated_at: string;
  json: string;
}

/**
 * Every session in a SQLite store, oldest first. The `SessionStore` port has no "list all", so
 * this reads the store's `sessions` table through `store.database` (read-only); a row whose JSON
 * is not a valid session is listed with `invalid` instead of failing the whole listing.
 *
 * @example
 * for (const session of listAllSessions(store)) console.log(session.id, session.last_run_status);
 */
export function listAllSessions(store: Pick<SqliteSessionStore, 'database'>): SessionListing[] {
  const rows = store.database
    .prepare<[], Row>(
      'SELECT id, kind, parent_session_id, root_session_id, created_at, updated_at, json FROM sessions ORDER BY created_at, id',
    )
    .all();
  return rows.map((row) => {
    let parsed: ReturnType<typeof sessionSchema.safeParse> | undefined;
    try {
      parsed = sessionSchema.safeParse(JSON.parse(row.json));
    } catch {
      parsed = undefined;
    }
    if (parsed?.success === true) return toListing(parsed.data);
    return {
      id: row.id,
      kind: row.kind,
      parent_session_id: row.parent_session_id,
      root_session_id: row.root_session_id,
      title: '',
      last_run_status: null,
      last_run_error: null,
      last_run_id: null,
      created_at: row.created_at,
      updated_at: row.updated_at,
      invalid:
        parsed === undefined
          ? 'stored JSON does not parse'
          : parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; '),
    };
  });
}
