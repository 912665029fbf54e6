// The summary columns' migrations (SQLite 4, PostgreSQL 4) backfill sessions stored by an older
// Sprout, so listSummaries lists them right after an upgrade — real SQLite files, real PostgreSQL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { POSTGRES_MIGRATIONS } from '../../../src/adapters/postgres/postgres-schema.js';
import { SQLITE_MIGRATIONS, SqliteSessionStore } from '../../../src/adapters/sqlite/sqlite-session-store.js';
import type { Session } from '../../../src/api/wire-types.js';
import { makeSession } from '../../../src/testing/index.js';
import { POSTGRES_URL, adminQuery, createTestSchema, postgresUnavailable, undroppedSchemas } from '../../support/postgres.js';

/** Sessions as an older Sprout stored them: a root, a child with an attachment, a child with no messages. */
function oldSessions(): Session[] {
  const root = makeSession('r1', { created_at: '2026-01-01T00:00:00.000Z', metadata: { pinned: 'true' } });
  const child = makeSession('c1', {
    parent_session_id: 'r1',
    root_session_id: 'r1',
    spawn_depth: 1,
    created_at: '2026-01-01T00:00:01.000Z',
    updated_at: '2026-01-01T00:00:01.000Z',
    metadata: { last_run_status: 'completed', last_run_id: 'run-1' },
  });
  child.messages.push({ id: 'm3', role: 'assistant', content: 'see', created_at: '2026-01-01T00:00:07.000Z', attachments: [{ n: 1 }] });
  const empty = makeSession('c2', {
    parent_session_id: 'r1',
    root_session_id: 'r1',
    spawn_depth: 1,
    messages: [],
    created_at: '2026-01-01T00:00:02.000Z',
  });
  return [root, child, empty];
}

/** What listSummaries must give for {@link oldSessions} after the migration. */
const expectedSummaries = [
  expect.objectContaining({
    id: 'r1',
    kind: 'root',
    title: 'session r1',
    model: 'test-model',
    metadata: { pinned: 'true' },
    message_count: 2,
    has_attachments: false,
    last_activity_at: '2026-01-01T00:00:01.000Z',
    last_message: { id: 'r1-m2', role: 'user', created_at: '2026-01-01T00:00:01.000Z' },
    version: 1,
  }),
  expect.objectContaining({
    id: 'c1',
    parent_session_id: 'r1',
    message_count: 3,
    has_attachments: true,
    last_activity_at: '2026-01-01T00:00:07.000Z',
    last_run_status: 'completed',
    last_run_id: 'run-1',
  }),
  expect.objectContaining({ id: 'c2', message_count: 0, has_attachments: false, last_activity_at: '2026-01-01T00:00:00.000Z' }),
];

describe('SQLite migration 4 (summary columns)', () => {
  it('backfills the summary columns of rows stored at schema version 3', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-summary-migration-'));
    const path = join(dir, 'old.db');
    try {
      const db = new Database(path);
      for (const migration of SQLITE_MIGRATIONS.slice(0, 3)) db.exec(migration);
      db.pragma('user_version = 3');
      const insert = db.prepare(
        `INSERT INTO sessions (id, kind, parent_session_id, root_session_id, spawn_depth, last_run_status, created_at, updated_at, version, json)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?)`,
      );
      for (const s of oldSessions())
        insert.run(
          s.id,
          s.kind,
          s.parent_session_id ?? null,
          s.root_session_id,
          s.spawn_depth,
          s.metadata.last_run_status ?? null,
          s.created_at,
          s.updated_at,
          JSON.stringify(s),
        );
      insert.run('bad', 'root', null, 'bad', 0, null, '2026-01-03T00:00:00.000Z', '2026-01-03T00:00:00.000Z', 'not json');
      db.close();

      const store = new SqliteSessionStore(path);
      try {
        expect(store.database.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
        const { items } = await store.listSummaries({ limit: 10 });
        expect(items.slice(0, 3)).toEqual(expectedSummaries);
        // A row whose JSON is broken keeps its indexed columns and empty summary columns.
        expect(items[3]).toEqual(
          expect.objectContaining({ id: 'bad', title: '', message_count: 0, last_activity_at: '2026-01-03T00:00:00.000Z' }),
        );
        expect(await store.countSummaries({ root: 'r1' })).toBe(3);
        const plan = store.database
          .prepare(`EXPLAIN QUERY PLAN SELECT id FROM sessions WHERE kind = 'root' ORDER BY created_at, id LIMIT 5`)
          .all() as { detail: string }[];
        expect(plan.map((row) => row.detail).join(' ')).toContain('sessions_by_kind_created');
      } finally {
        store.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== undefined)('PostgreSQL migration 4 (summary columns)', () => {
  afterAll(() => {
    expect(undroppedSchemas()).toEqual([]);
  });

  it('backfills the summary columns of rows stored at schema version 3', async () => {
    const schema = createTestSchema();
    const s = `"${schema.name}"`;
    try {
      await adminQuery(`CREATE SCHEMA ${s}`);
      await adminQuery(`CREATE TABLE ${s}.sprout_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
      for (const [i, migration] of POSTGRES_MIGRATIONS.slice(0, 3).entries()) {
        await adminQuery(migration(s));
        await adminQuery(`INSERT INTO ${s}.sprout_migrations (version) VALUES (${i + 1})`);
      }
      for (const session of oldSessions()) {
        await adminQuery(
          `INSERT INTO ${s}.sessions (id, kind, parent_session_id, root_session_id, spawn_depth, last_run_status, created_at, updated_at, version, data)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9::jsonb)`,
          [
            session.id,
            session.kind,
            session.parent_session_id ?? null,
            session.root_session_id,
            session.spawn_depth,
            session.metadata.last_run_status ?? null,
            session.created_at,
            session.updated_at,
            JSON.stringify(session),
          ],
        );
      }
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      try {
        const { items } = await store.listSummaries({ limit: 10 });
        expect(items).toEqual(expectedSummaries);
        expect(await store.countSummaries({ kind: 'child' })).toBe(2);
        const versions = await adminQuery<{ version: number }>(`SELECT version FROM ${s}.sprout_migrations ORDER BY version`);
        expect(versions.map((row) => row.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      } finally {
        await store.close();
      }
    } finally {
      await schema.drop();
    }
  });
});
