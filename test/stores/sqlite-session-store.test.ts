import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidSessionDataError, SessionConflictError, StoreUnavailableError } from '../../src/errors.js';
import { SQLITE_MIGRATIONS, SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { SqliteSessionStoreOptions } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { makeSession } from '../conformance/session-store.conformance.js';

const child = (id: string, parent: string, createdAt = '2026-01-01T00:00:00.000Z') =>
  makeSession(id, { kind: 'child', parent_session_id: parent, created_at: createdAt, metadata: { last_run_status: 'pending' } });

describe('SqliteSessionStore', () => {
  let dir: string;
  let path: string;
  const open: SqliteSessionStore[] = [];
  const openStore = (options: Omit<SqliteSessionStoreOptions, 'path' | 'database'> = {}) => {
    const store = new SqliteSessionStore({ path, ...options });
    open.push(store);
    return store;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sprout-sqlite-'));
    path = join(dir, 'sessions.db');
  });
  afterEach(() => {
    for (const store of open.splice(0)) store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('openEventLog gives one log per database (a second would count seq on its own)', async () => {
    const store = openStore();
    const log = store.openEventLog({ retention: 10, onError: () => {} });
    expect(store.openEventLog({ retention: 99, onError: () => {} })).toBe(log);
    expect((await log.append('s', { type: 'token', content: 'a' })).seq).toBe(1);
    expect((await store.openEventLog({ retention: 10, onError: () => {} }).append('s', { type: 'token', content: 'b' })).seq).toBe(2);
  });

  it('close runs every close hook even when one throws, closes the database, then rethrows the first failure', () => {
    const store = openStore();
    const ran: string[] = [];
    store.beforeClose(() => {
      ran.push('first');
      throw new Error('flush failed');
    });
    store.beforeClose(() => ran.push('second'));
    expect(() => store.close()).toThrow('flush failed');
    expect(ran).toEqual(['first', 'second']);
    expect(store.database.open).toBe(false);
  });

  it('opens in WAL mode with synchronous=NORMAL and a busy timeout', () => {
    const db = openStore().database;
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBe(5000);
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
  });

  it('creates the directory of the file', async () => {
    path = join(dir, 'nested', 'deeper', 'sessions.db');
    await openStore().save(makeSession('s1'));
    expect(readFileSync(path).subarray(0, 15).toString()).toBe('SQLite format 3');
  });

  it('keeps sessions and versions across close and reopen', async () => {
    const first = openStore();
    const session = child('c1', 'p');
    await first.save(session);
    await first.save(session);
    first.close();
    const second = openStore();
    await expect(second.load('c1')).resolves.toEqual({ ...session, version: 2 });
    expect((await second.listChildren('p')).map((s) => s.id)).toEqual(['c1']);
    expect((await second.listByRunStatus(['pending'])).map((s) => s.id)).toEqual(['c1']);
  });

  it('detects a conflict between two connections to the same file', async () => {
    const a = openStore();
    const b = openStore();
    await a.save(makeSession('s1'));
    const fromA = (await a.load('s1'))!;
    const fromB = (await b.load('s1'))!;
    await b.save({ ...fromB, title: 'b wins' });
    await expect(a.save(fromA)).rejects.toBeInstanceOf(SessionConflictError);
    expect((await a.load('s1'))!.title).toBe('b wins');
  });

  it('migrates a file at schema version 1 to the latest, keeping its data', async () => {
    const legacy = new Database(path);
    legacy.exec(`CREATE TABLE sessions (
        id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, parent_session_id TEXT, root_session_id TEXT NOT NULL,
        spawn_depth INTEGER NOT NULL, last_run_status TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        version INTEGER NOT NULL, json TEXT NOT NULL) STRICT;
      CREATE INDEX sessions_by_parent ON sessions (parent_session_id, created_at, id);`);
    const old = child('c1', 'p');
    legacy
      .prepare('INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(old.id, old.kind, 'p', old.root_session_id, 1, 'pending', old.created_at, old.updated_at, 3, JSON.stringify(old));
    legacy.pragma('user_version = 1');
    legacy.close();

    const store = openStore();
    const db = store.database;
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_MIGRATIONS.length);
    const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all();
    expect(tables.map((t) => t.name)).toEqual(['event_seqs', 'events', 'open_runs', 'runs', 'sessions']);
    const loaded = (await store.load('c1'))!;
    expect(loaded).toEqual({ ...old, version: 3 });
    await store.save(loaded);
    expect(loaded.version).toBe(4);
  });

  it('refuses a file written by a newer schema', () => {
    const newer = new Database(path);
    newer.pragma(`user_version = ${SQLITE_MIGRATIONS.length + 1}`);
    newer.close();
    expect(() => openStore()).toThrow(StoreUnavailableError);
    expect(() => openStore()).toThrow(path);
  });

  describe('invalid rows', () => {
    const corrupt = (store: SqliteSessionStore, id: string, json: string) =>
      store.database.prepare('UPDATE sessions SET json = ? WHERE id = ?').run(json, id);

    it('rejects load with InvalidSessionDataError naming the session; lists skip and report it', async () => {
      const reported: InvalidSessionDataError[] = [];
      const store = openStore({ onInvalidRow: (error) => reported.push(error) });
      for (const [i, id] of ['c1', 'c2', 'c3', 'c4'].entries()) await store.save(child(id, 'p', `2026-01-0${i + 1}T00:00:00.000Z`));
      corrupt(store, 'c2', '{not json');
      corrupt(store, 'c3', JSON.stringify({ ...child('c3', 'p'), kind: 'alien' }));

      const error = await store.load('c2').then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InvalidSessionDataError);
      expect(error).toMatchObject({ code: 'INVALID_SESSION_DATA', sessionId: 'c2' });
      expect((error as Error).message).toContain('c2');
      await expect(store.load('c3')).rejects.toThrow(/session c3 has invalid data: .*kind/);

      expect((await store.listChildren('p')).map((s) => s.id)).toEqual(['c1', 'c4']);
      expect((await store.listByRunStatus(['pending'])).map((s) => s.id)).toEqual(['c1', 'c4']);
      expect(reported.map((e) => e.sessionId)).toEqual(['c2', 'c3', 'c2', 'c3']);
      expect(store.invalidRows.map((e) => e.sessionId)).toEqual(['c2', 'c3', 'c2', 'c3']);
    });

    it('treats JSON whose id differs from the row as invalid', async () => {
      const store = openStore();
      await store.save(makeSession('s1'));
      corrupt(store, 's1', JSON.stringify(makeSession('s2')));
      await expect(store.load('s1')).rejects.toBeInstanceOf(InvalidSessionDataError);
    });
  });

  describe('unreadable files', () => {
    it('throws StoreUnavailableError naming a file that is not SQLite', () => {
      writeFileSync(path, 'this is a text file, not a database\n'.repeat(200));
      expect(() => openStore()).toThrow(StoreUnavailableError);
      expect(() => openStore()).toThrow(path);
    });

    it('throws StoreUnavailableError naming a truncated database file', async () => {
      const store = openStore();
      for (let i = 0; i < 200; i++) await store.save(child(`c${i}`, 'p'));
      store.close();
      const bytes = readFileSync(path);
      expect(bytes.length).toBeGreaterThan(64 * 1024);
      writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
      let error: unknown;
      try {
        openStore();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(error).toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect((error as Error).message).toContain(path);
    });
  });

  it('passes PRAGMA integrity_check after a workload', async () => {
    const store = openStore();
    for (let i = 0; i < 100; i++) {
      const session = child(`c${i}`, `p${i % 7}`);
      await store.save(session);
      session.metadata.last_run_status = 'completed';
      await store.save(session);
      if (i % 3 === 0) await store.delete(session.id);
    }
    expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    expect(store.database.prepare('SELECT count(*) AS n FROM sessions').get()).toEqual({ n: 66 });
  });

  it('uses a database it was given without closing it', async () => {
    const db = new Database(':memory:');
    const store = new SqliteSessionStore({ database: db });
    await store.save(makeSession('s1'));
    store.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT id FROM sessions').all()).toEqual([{ id: 's1' }]);
    await expect(store.load('s1')).rejects.toBeInstanceOf(StoreUnavailableError);
    db.close();
  });

  it('rejects calls after close, and close is idempotent', async () => {
    const store = openStore();
    store.close();
    store.close();
    await expect(store.save(makeSession('s1'))).rejects.toThrow(/closed/);
    await expect(store.listChildren('p')).rejects.toBeInstanceOf(StoreUnavailableError);
  });
});
