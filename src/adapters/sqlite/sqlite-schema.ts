import type Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../errors.js';

/**
 * A better-sqlite3 connection.
 *
 * @example
 * const db: SqliteDatabase = new Database('sprout.db');
 */
export type SqliteDatabase = Database.Database;

/**
 * The schema, one migration per entry, applied in order on open. `PRAGMA user_version` holds how
 * many have run. 1: sessions; 2: the events and event_seqs tables of `SqliteEventLog`; 3: its
 * `open_runs` ledger (runs announced with `sub_session_started` and not yet completed), seeded
 * from the events already stored; 4: the summary columns of `sessions` (title, model, metadata,
 * message count, last message, attachments, last activity), backfilled from each row's JSON, and
 * the indexes that page listings by `created_at, id` / last activity (`listSummaries`); 5: the
 * `runs` index (one row per announced run: parent, child, root, title, model, status, reason,
 * error, times, tokens; `position` is the announcement order), written by `SqliteEventLog` in the
 * same transaction as the events, with an index per filter of `GET /v1/runs` (runs announced
 * before this migration are not indexed). Append only: never edit a shipped migration.
 *
 * @example
 * db.pragma('user_version', { simple: true }) === SQLITE_MIGRATIONS.length; // fully migrated
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
  `CREATE TABLE sessions (
     id TEXT PRIMARY KEY NOT NULL,
     kind TEXT NOT NULL,
     parent_session_id TEXT,
     root_session_id TEXT NOT NULL,
     spawn_depth INTEGER NOT NULL,
     last_run_status TEXT,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL,
     version INTEGER NOT NULL,
     json TEXT NOT NULL
   ) STRICT;
   CREATE INDEX sessions_by_parent ON sessions (parent_session_id, created_at, id);
   CREATE INDEX sessions_by_root ON sessions (root_session_id);
   CREATE INDEX sessions_by_run_status ON sessions (last_run_status);
   CREATE INDEX sessions_by_kind ON sessions (kind);`,
  `CREATE TABLE events (
     session_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     json TEXT NOT NULL,
     PRIMARY KEY (session_id, seq)
   ) WITHOUT ROWID, STRICT;
   CREATE TABLE event_seqs (
     session_id TEXT PRIMARY KEY NOT NULL,
     last_seq INTEGER NOT NULL
   ) WITHOUT ROWID, STRICT;`,
  `CREATE TABLE open_runs (
     run_id TEXT PRIMARY KEY NOT NULL,
     parent_session_id TEXT NOT NULL,
     child_session_id TEXT NOT NULL,
     title TEXT,
     started_seq INTEGER NOT NULL
   ) WITHOUT ROWID, STRICT;
   INSERT OR IGNORE INTO open_runs (run_id, parent_session_id, child_session_id, title, started_seq)
     SELECT json_extract(s.json, '$.run_id'), s.session_id, json_extract(s.json, '$.child_session_id'), json_extract(s.json, '$.title'), s.seq
     FROM events s
     WHERE json_valid(s.json) AND json_extract(s.json, '$.type') = 'sub_session_started'
       AND typeof(json_extract(s.json, '$.run_id')) = 'text' AND typeof(json_extract(s.json, '$.child_session_id')) = 'text'
       AND NOT EXISTS (
         SELECT 1 FROM events c
         WHERE c.session_id = s.session_id AND json_valid(c.json) AND json_extract(c.json, '$.type') = 'sub_session_completed'
           AND json_extract(c.json, '$.run_id') = json_extract(s.json, '$.run_id')
       );`,
  `ALTER TABLE sessions ADD COLUMN title TEXT NOT NULL DEFAULT '';
   ALTER TABLE sessions ADD COLUMN model TEXT NOT NULL DEFAULT '';
   ALTER TABLE sessions ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
   ALTER TABLE sessions ADD COLUMN message_count INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE sessions ADD COLUMN last_message_id TEXT;
   ALTER TABLE sessions ADD COLUMN last_message_role TEXT;
   ALTER TABLE sessions ADD COLUMN last_message_at TEXT;
   ALTER TABLE sessions ADD COLUMN has_attachments INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE sessions ADD COLUMN last_activity_at TEXT NOT NULL DEFAULT '';
   UPDATE sessions SET
       title = coalesce(json_extract(json, '$.title'), ''),
       model = coalesce(json_extract(json, '$.model'), ''),
       metadata = CASE json_type(json, '$.metadata') WHEN 'object' THEN json_extract(json, '$.metadata') ELSE '{}' END,
       message_count = coalesce(json_array_length(json, '$.messages'), 0),
       last_message_id = json_extract(json, '$.messages[#-1].id'),
       last_message_role = json_extract(json, '$.messages[#-1].role'),
       last_message_at = json_extract(json, '$.messages[#-1].created_at'),
       has_attachments = EXISTS (
         SELECT 1 FROM json_each(sessions.json, '$.messages') m
         WHERE json_type(m.value, '$.attachments') = 'array' AND json_array_length(m.value, '$.attachments') > 0
       ),
       last_activity_at = CASE
         WHEN json_extract(json, '$.messages[#-1].created_at') > updated_at THEN json_extract(json, '$.messages[#-1].created_at')
         ELSE updated_at END
     WHERE json_valid(json) AND json_type(json, '$.messages') = 'array';
   UPDATE sessions SET last_activity_at = updated_at WHERE last_activity_at = '';
   CREATE INDEX sessions_by_created ON sessions (created_at, id);
   CREATE INDEX sessions_by_kind_created ON sessions (kind, created_at, id);
   CREATE INDEX sessions_by_root_created ON sessions (root_session_id, created_at, id);
   CREATE INDEX sessions_by_status_created ON sessions (last_run_status, created_at, id);
   CREATE INDEX sessions_by_activity ON sessions (last_activity_at, created_at, id);
   CREATE INDEX sessions_by_kind_activity ON sessions (kind, last_activity_at, created_at, id);`,
  `CREATE TABLE runs (
     position INTEGER PRIMARY KEY,
     run_id TEXT NOT NULL UNIQUE,
     parent_session_id TEXT NOT NULL,
     child_session_id TEXT NOT NULL,
     root_session_id TEXT NOT NULL,
     title TEXT,
     model TEXT,
     status TEXT NOT NULL,
     reason TEXT,
     error TEXT,
     created_at TEXT NOT NULL,
     started_at TEXT,
     ended_at TEXT,
     prompt_tokens INTEGER,
     completion_tokens INTEGER,
     total_tokens INTEGER,
     started_seq INTEGER NOT NULL,
     ended_seq INTEGER
   ) STRICT;
   CREATE INDEX runs_by_status ON runs (status, position);
   CREATE INDEX runs_by_reason ON runs (reason, position);
   CREATE INDEX runs_by_root ON runs (root_session_id, position);
   CREATE INDEX runs_by_parent ON runs (parent_session_id, position);
   CREATE INDEX runs_by_child ON runs (child_session_id, position);
   CREATE INDEX runs_by_model ON runs (model, position);
   CREATE INDEX runs_by_created ON runs (created_at);`,
];

/**
 * Brings `db` to the latest schema ({@link SQLITE_MIGRATIONS}), one `BEGIN IMMEDIATE`
 * transaction per migration (so two processes opening the same file do not race). Returns the
 * resulting `user_version`. Throws {@link StoreUnavailableError} for a file from a newer Sprout.
 *
 * @example
 * migrateSqliteSchema(new Database('sessions.db')); // 5
 */
export function migrateSqliteSchema(db: SqliteDatabase): number {
  const step = db.transaction((): boolean => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > SQLITE_MIGRATIONS.length) {
      throw new StoreUnavailableError(
        `${db.name} has schema version ${current}, newer than the ${SQLITE_MIGRATIONS.length} this Sprout knows`,
      );
    }
    const migration = SQLITE_MIGRATIONS[current];
    if (migration === undefined) return false;
    db.exec(migration);
    db.pragma(`user_version = ${current + 1}`);
    return true;
  });
  while (step.immediate());
  return SQLITE_MIGRATIONS.length;
}
