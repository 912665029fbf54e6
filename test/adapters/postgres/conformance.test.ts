// The shipped conformance suites (`@sprout-agents/sprout/testing`) on the PostgreSQL adapters:
// the session store, the event log on its own and the store's companion log (`openEventLog`),
// each test in a schema of its own that is dropped afterwards.
import * as vitest from 'vitest';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import type { EventLog } from '../../../src/api/ports.js';
import {
  describeEventLogConformance,
  describeRunLedgerConformance,
  describeSessionStoreConformance,
  type CreateEventLog,
  type CreateSessionStore,
} from '../../../src/testing/index.js';
import { POSTGRES_URL, createTestSchema, existingSchemas, postgresUnavailable, undroppedSchemas } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();
/** Vitest, with every test skipped when PostgreSQL is unreachable (the reason is on stderr). */
const t = unavailable === undefined ? vitest : { ...vitest, it: vitest.it.skip };

const createStore: CreateSessionStore = () => {
  const schema = createTestSchema();
  const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
  return Promise.resolve({
    store,
    cleanup: async () => {
      await store.close();
      await schema.drop();
    },
  });
};

/** A log on a fresh schema, reopened as a new log (new pool) on the same schema. */
function logFactory(open: (schema: string, retention: number) => { log: EventLog; close(): Promise<void> }): CreateEventLog {
  return ({ retention }) => {
    const schema = createTestSchema();
    let current = open(schema.name, retention);
    return {
      log: current.log,
      reopen: async () => {
        await current.close();
        current = open(schema.name, retention);
        return current.log;
      },
      cleanup: async () => {
        await current.close();
        await schema.drop();
      },
    };
  };
}

const standalone = logFactory((schema, retention) => {
  const log = new PostgresEventLog({ connectionString: POSTGRES_URL, schema, retention });
  return { log, close: () => log.close() };
});

const companion = logFactory((schema, retention) => {
  const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema });
  const log = store.openEventLog({
    retention,
    onError: (error) => {
      throw error;
    },
  });
  return { log, close: () => store.close() };
});

describeSessionStoreConformance('PostgresSessionStore', createStore, t);
for (const [name, create] of [
  ['PostgresEventLog', standalone],
  ['PostgresSessionStore.openEventLog', companion],
] as const) {
  describeEventLogConformance(name, create, t);
  describeRunLedgerConformance(name, create, t);
}

vitest.afterAll(async () => {
  vitest.expect(undroppedSchemas()).toEqual([]);
  if (unavailable === undefined) vitest.expect(await existingSchemas(`sprout_test_${process.pid}_`)).toEqual([]);
});
