import { existsSync, statSync } from 'node:fs';
import { StoreUnavailableError } from '../errors.js';
import { SqliteSessionStore } from '../adapters/sqlite/sqlite-session-store.js';
import { SqliteEventLog } from '../adapters/sqlite/sqlite-event-log.js';
import { CliUsageError, oneLine } from './cli-error.js';
import { probeDatabase, refuseForeignDatabase } from './probe-database.js';

/** A SQLite file opened for the CLI: the session store and the event log sharing its connection. */
export interface OpenDatabase {
  readonly path: string;
  readonly store: SqliteSessionStore;
  readonly eventLog: SqliteEventLog;
  /** Flushes the event log and closes the file. Idempotent. */
  close(): void;
}

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** Refuse a path with no file (`status` must not create one). @default false */
  mustExist?: boolean;
  /** Called when a background event-log flush fails. */
  onEventLogError?: (error: StoreUnavailableError) => void;
  /** The command that opens the file, for error messages. @default 'demo' */
  command?: string;
}

/**
 * Opens (creating it and its directory on first use, unless `mustExist`) the SQLite file of
 * `--db`: a {@link SqliteSessionStore} plus its {@link SqliteEventLog}. A path that is missing,
 * a directory, not SQLite, or an SQLite database with someone else's tables (left untouched)
 * becomes a one-line {@link CliUsageError} (exit 2).
 *
 * @example
 * const db = openDatabase('.sprout/sprout.db');
 * const scheduler = createSpawnScheduler({ store: db.store, eventLog: db.eventLog, agent });
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): OpenDatabase {
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) throw new CliUsageError(`${path} is a directory, not a database file`);
    // Never add Sprout's tables to someone else's database.
    refuseForeignDatabase(path, probeDatabase(path), options.command ?? 'demo');
  } else if (options.mustExist === true) {
    throw new CliUsageError(`no database at ${path} (run "sprout demo --db ${path}" to create one)`);
  }
  let store: SqliteSessionStore;
  try {
    store = new SqliteSessionStore({ path });
  } catch (error) {
    if (error instanceof StoreUnavailableError)
      throw new CliUsageError(`${path} is not a usable Sprout database: ${oneLine(error)}`, { cause: error });
    throw error;
  }
  let eventLog: SqliteEventLog;
  try {
    eventLog = new SqliteEventLog(store, options.onEventLogError === undefined ? {} : { onError: options.onEventLogError });
  } catch (error) {
    store.close();
    throw new CliUsageError(`${path} is not a usable Sprout database: ${oneLine(error)}`, { cause: error });
  }
  let closed = false;
  return {
    path,
    store,
    eventLog,
    close() {
      if (closed) return;
      closed = true;
      store.close();
    },
  };
}
