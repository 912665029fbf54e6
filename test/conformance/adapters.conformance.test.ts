// Runs the shipped conformance suites (`@sprout-agents/sprout/testing`) on every adapter in the
// repository — the memory and SQLite session stores, the memory and SQLite event logs, the SQLite
// store's companion log (`openEventLog`) — and on an asynchronous test adapter, so the suites'
// promise path is exercised too.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vitest from 'vitest';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { EventLog } from '../../src/api/ports.js';
import {
  describeEventLogConformance,
  describeRunLedgerConformance,
  describeSessionStoreConformance,
  type CreateEventLog,
  type CreateSessionStore,
} from '../../src/testing/index.js';
import { AsyncEventLog } from './async-event-log.js';

const { afterAll, expect } = vitest;

/** Temp directories made by the factories; each is removed by its cleanup (checked at the end). */
const dirs: string[] = [];
function tempDatabase(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-conformance-'));
  dirs.push(dir);
  return join(dir, 'sprout.db');
}
function removeDatabase(path: string): void {
  rmSync(join(path, '..'), { recursive: true, force: true });
}
afterAll(() => {
  expect(dirs.filter((dir) => existsSync(dir))).toEqual([]);
});

/**
 * An event log in a SQLite file that can be reopened (the store closed, and the file opened again
 * by a new store): `open` makes the log on the store.
 */
function sqliteLogFactory(open: (store: SqliteSessionStore, retention: number) => EventLog): CreateEventLog {
  return ({ retention }) => {
    const path = tempDatabase();
    let store = new SqliteSessionStore(path);
    return {
      log: open(store, retention),
      reopen: () => {
        store.close();
        store = new SqliteSessionStore(path);
        return open(store, retention);
      },
      cleanup: () => {
        store.close();
        removeDatabase(path);
      },
    };
  };
}

const memoryStore: CreateSessionStore = () => Promise.resolve({ store: new MemorySessionStore() });
const sqliteStore: CreateSessionStore = () => {
  const path = tempDatabase();
  const store = new SqliteSessionStore(path);
  return Promise.resolve({
    store,
    cleanup: () => {
      store.close();
      removeDatabase(path);
    },
  });
};

const eventLogs: [string, CreateEventLog][] = [
  ['MemoryEventLog', ({ retention }) => ({ log: new MemoryEventLog({ retention }) })],
  ['SqliteEventLog (file, batched)', sqliteLogFactory((store, retention) => new SqliteEventLog(store, { retention }))],
  ['SqliteEventLog (file, unbatched)', sqliteLogFactory((store, retention) => new SqliteEventLog(store, { retention, batch: false }))],
  [
    'SqliteSessionStore.openEventLog (file)',
    sqliteLogFactory((store, retention) =>
      store.openEventLog({
        retention,
        onError: (error) => {
          throw error;
        },
      }),
    ),
  ],
  ['AsyncEventLog over MemoryEventLog', ({ retention }) => ({ log: new AsyncEventLog(new MemoryEventLog({ retention })) })],
  [
    'AsyncEventLog over MemoryEventLog (answers out of call order)',
    ({ retention }) => ({ log: new AsyncEventLog(new MemoryEventLog({ retention }), { answerDelay: (n) => (n * 7) % 4 }) }),
  ],
  [
    'AsyncEventLog over SqliteEventLog (file)',
    sqliteLogFactory((store, retention) => new AsyncEventLog(new SqliteEventLog(store, { retention }))),
  ],
];

describeSessionStoreConformance('MemorySessionStore', memoryStore, vitest);
describeSessionStoreConformance('SqliteSessionStore (file)', sqliteStore, vitest);

for (const [name, create] of eventLogs) {
  describeEventLogConformance(name, create, vitest);
  describeRunLedgerConformance(name, create, vitest);
}
