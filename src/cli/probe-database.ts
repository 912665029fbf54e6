import Database from 'better-sqlite3';
import { CliUsageError, oneLine } from './cli-error.js';

/** What a file at `--db` holds, read without changing it. */
export type DatabaseProbe =
  /** An empty file or an SQLite database with no tables: Sprout may create its schema in it. */
  | { kind: 'empty' }
  /** A Sprout database (`PRAGMA user_version` ≥ 1 and a `sessions` table). */
  | { kind: 'sprout'; version: number }
  /** An SQLite database with someone else's tables: Sprout must leave it alone. */
  | { kind: 'foreign'; tables: string[] }
  /** Not readable as SQLite (the store's own open reports why). */
  | { kind: 'unreadable'; reason: string };

/**
 * Looks at an existing file through a read-only connection, without creating, migrating or
 * locking anything.
 *
 * @example
 * probeDatabase('.sprout/sprout.db'); // { kind: 'sprout', version: 3 }
 */
export function probeDatabase(path: string): DatabaseProbe {
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all()
      .map((row) => row.name);
    const version = db.pragma('user_version', { simple: true }) as number;
    if (tables.length === 0 && version === 0) return { kind: 'empty' };
    if (version >= 1 && tables.includes('sessions')) return { kind: 'sprout', version };
    return { kind: 'foreign', tables };
  } catch (error) {
    return { kind: 'unreadable', reason: oneLine(error) };
  } finally {
    db?.close();
  }
}

/**
 * Throws a {@link CliUsageError} (exit 2) for an SQLite file that holds someone else's tables, so
 * no command adds Sprout's schema to it.
 *
 * @example
 * refuseForeignDatabase('app.db', 'status'); // throws: app.db is an SQLite database but not a Sprout database (tables: users); sprout status leaves it untouched
 */
export function refuseForeignDatabase(path: string, probe: DatabaseProbe, command: string): void {
  if (probe.kind !== 'foreign') return;
  const listed = probe.tables.length > 5 ? `${probe.tables.slice(0, 5).join(', ')}, …` : probe.tables.join(', ');
  throw new CliUsageError(
    `${path} is an SQLite database but not a Sprout database (tables: ${listed || 'none'}; schema version 0); sprout ${command} leaves it untouched`,
  );
}
