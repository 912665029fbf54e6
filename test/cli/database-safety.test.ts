import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { runCli, tempDb } from './cli-process.js';

const tablesOf = (path: string): string[] => {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .all()
      .map((row) => row.name);
  } finally {
    db.close();
  }
};
const digest = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Someone else's SQLite file: one table of theirs, nothing of Sprout's. */
function foreignDatabase(): string {
  const path = tempDb();
  const db = new Database(path);
  db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('ada');");
  db.close();
  return path;
}

describe('a --db that is not a Sprout database', () => {
  // Bug pinned: `sprout status` on an unrelated SQLite file printed "0 sessions" and silently
  // added Sprout's tables to it.
  it.each([
    ['status', ['status']],
    ['status --read-only', ['status', '--read-only']],
    ['demo', ['demo', '--json', '--children', '1']],
  ])('is refused by %s (exit 2, one line) and left byte for byte as it was', async (_name, args) => {
    const path = foreignDatabase();
    const before = digest(path);
    const result = await runCli([...args, '--db', path]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `sprout: ${path} is an SQLite database but not a Sprout database (tables: users; schema version 0); sprout ${args[0] ?? ''} leaves it untouched`,
    );
    expect(tablesOf(path)).toEqual(['users']);
    expect(digest(path)).toBe(before);
  });
});

describe('sprout status --read-only', () => {
  // Bug pinned: --read-only opened the file read-write (and failed on a read-only filesystem).
  it('lists a run a killed process left `running` without reconciling it or writing to the file', async () => {
    const path = tempDb();
    const store = new SqliteSessionStore({ path });
    const now = new Date().toISOString();
    await store.save({
      id: 'root',
      title: 'Root',
      kind: 'root',
      root_session_id: 'root',
      spawn_depth: 0,
      model: 'm',
      messages: [],
      metadata: {},
      created_at: now,
      updated_at: now,
    });
    await store.save({
      id: 'child',
      title: 'Left running',
      kind: 'child',
      parent_session_id: 'root',
      root_session_id: 'root',
      spawn_depth: 1,
      model: 'm',
      messages: [{ id: 'u1', role: 'user', content: 'go', created_at: now }],
      metadata: { last_run_status: 'running', last_run_id: 'run-1' },
      created_at: now,
      updated_at: now,
    });
    store.close();
    expect(existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).length : 0).toBe(0);
    const before = digest(path);

    const result = await runCli(['status', '--db', path, '--json', '--read-only']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as { reconciled: unknown; sessions: { id: string; last_run_status: string | null }[] };
    expect(report.reconciled).toBeNull();
    expect(report.sessions.map((session) => [session.id, session.last_run_status]).sort()).toEqual([
      ['child', 'running'],
      ['root', null],
    ]);
    expect(digest(path)).toBe(before);
    expect(existsSync(`${path}-wal`) ? readFileSync(`${path}-wal`).length : 0).toBe(0);
  });

  it('reports an empty file as 0 sessions and creates no tables in it, with or without --read-only', async () => {
    const path = tempDb();
    new Database(path).close();
    for (const args of [
      ['status', '--db', path],
      ['status', '--db', path, '--read-only'],
    ]) {
      const result = await runCli(args);
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`${path}: 0 sessions\n`);
    }
    expect(tablesOf(path)).toEqual([]);
  });
});
