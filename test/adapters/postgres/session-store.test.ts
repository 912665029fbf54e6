// What the PostgreSQL session store and its migrations promise beyond the conformance suite:
// migrations that several processes may start at once, schema isolation, optimistic concurrency
// across pools, bad rows reported (not crashing), and an unreachable server as a typed error.
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../../src/adapters/postgres/postgres-database.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { POSTGRES_MIGRATIONS } from '../../../src/adapters/postgres/postgres-schema.js';
import { InvalidSessionDataError, SessionConflictError, SproutValidationError, StoreUnavailableError } from '../../../src/errors.js';
import { makeSession } from '../../../src/testing/index.js';
import {
  POSTGRES_URL,
  adminQuery,
  createTestSchema,
  existingSchemas,
  postgresUnavailable,
  undroppedSchemas,
} from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

/** Runs `body` with fresh schemas (dropped afterwards) and closes every store it opened. */
function withSchemas(count: number, body: (schemas: string[], open: (schema: string) => PostgresSessionStore) => Promise<void>) {
  return async () => {
    const schemas = Array.from({ length: count }, () => createTestSchema());
    const stores: PostgresSessionStore[] = [];
    const open = (schema: string): PostgresSessionStore => {
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema });
      stores.push(store);
      return store;
    };
    try {
      await body(
        schemas.map((schema) => schema.name),
        open,
      );
    } finally {
      await Promise.allSettled(stores.map((store) => store.close()));
      for (const schema of schemas) await schema.drop();
    }
  };
}

describe.skipIf(unavailable !== undefined)('PostgresSessionStore and its migrations', () => {
  it(
    'six processes migrating one fresh schema at once: all succeed, each migration runs once',
    withSchemas(1, async ([schema]) => {
      const databases = Array.from({ length: 6 }, () => new PostgresDatabase({ connectionString: POSTGRES_URL, schema: schema! }));
      try {
        await Promise.all(databases.map((database) => database.ready()));
      } finally {
        await Promise.all(databases.map((database) => database.close()));
      }
      const rows = await adminQuery<{ version: number }>(`SELECT version FROM "${schema}".sprout_migrations ORDER BY version`);
      expect(rows.map((row) => row.version)).toEqual(POSTGRES_MIGRATIONS.map((_, i) => i + 1));
      const tables = await adminQuery<{ tablename: string }>('SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY tablename', [
        schema,
      ]);
      expect(tables.map((row) => row.tablename)).toEqual([
        'event_seqs',
        'events',
        'open_runs',
        'run_fences',
        'runs',
        'sessions',
        'sprout_migrations',
      ]);
    }),
  );

  it(
    'keeps no index another one covers: each costs every save (migration 7), and the lookups still use an index',
    withSchemas(1, async ([schema], open) => {
      const store = open(schema!);
      await store.save(makeSession('root'));
      for (let i = 0; i < 200; i++) await store.save(makeSession(`c${i}`, { parent_session_id: 'root', root_session_id: 'root' }));
      const indexes = await adminQuery<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND tablename = 'sessions' ORDER BY indexname`,
        [schema],
      );
      const names = indexes.map((row) => row.indexname);
      for (const gone of ['sessions_by_root', 'sessions_by_kind', 'sessions_by_run_status']) expect(names).not.toContain(gone);
      // No index is a column prefix of another one (it would only cost writes).
      const columnsOf = (def: string): string[] =>
        /\(([^)]*)\)/
          .exec(def)![1]!
          .split(',')
          .map((column) => column.trim());
      for (const a of indexes)
        for (const b of indexes) {
          if (a === b || a.indexdef.includes(' WHERE ')) continue;
          const [x, y] = [columnsOf(a.indexdef), columnsOf(b.indexdef)];
          if (x.length < y.length) expect(y.slice(0, x.length), `${a.indexname} is a prefix of ${b.indexname}`).not.toEqual(x);
        }
      // The planner's choice with sequential scans ruled out: which index serves the lookup.
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      const plan = async (where: string): Promise<string> => {
        const result = await client.query<{ 'QUERY PLAN': string }>(
          `EXPLAIN SELECT id FROM "${schema}".sessions WHERE ${where} ORDER BY created_at, id`,
        );
        return result.rows.map((row) => row['QUERY PLAN']).join('\n');
      };
      try {
        await client.query('SET enable_seqscan = off');
        for (const where of [`root_session_id = 'root'`, `kind = 'root'`, `kind = 'child' AND last_run_status = ANY('{running}')`]) {
          const text = await plan(where);
          expect(text, where).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
          expect(text, where).not.toContain('Seq Scan');
        }
      } finally {
        await client.end();
      }
    }),
  );

  it(
    'refuses a schema a newer Sprout migrated, naming it',
    withSchemas(1, async ([schema], open) => {
      await open(schema!).save(makeSession('s1'));
      await adminQuery(`INSERT INTO "${schema}".sprout_migrations (version) VALUES (99)`);
      const error = await open(schema!)
        .load('s1')
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect((error as Error).message).toContain(`schema ${schema} has version 99, newer than the ${POSTGRES_MIGRATIONS.length}`);
    }),
  );

  it(
    'schemas isolate deployments: the same ids in two schemas never meet',
    withSchemas(2, async ([a, b], open) => {
      const storeA = open(a!);
      const storeB = open(b!);
      await storeA.save(makeSession('root', { title: 'in a' }));
      await storeB.save(makeSession('root', { title: 'in b' }));
      await storeA.save(makeSession('c1', { parent_session_id: 'root' }));
      expect((await storeA.load('root'))?.title).toBe('in a');
      expect((await storeB.load('root'))?.title).toBe('in b');
      expect(await storeB.listChildren('root')).toEqual([]);
      const logA = storeA.openEventLog({ retention: 10, onError: () => undefined });
      await logA.append('root', { type: 'token', content: 'x' });
      expect((await storeB.openEventLog({ retention: 10, onError: () => undefined }).read('root', 0)).lastSeq).toBe(0);
    }),
  );

  it(
    'two processes saving the same version: exactly one wins, the other gets SessionConflictError with the versions',
    withSchemas(1, async ([schema], open) => {
      const [one, two] = [open(schema!), open(schema!)];
      await one.save(makeSession('s1'));
      const copies = await Promise.all([one.load('s1'), two.load('s1'), one.load('s1'), two.load('s1')]);
      const stores = [one, two, one, two];
      const results = await Promise.allSettled(copies.map((copy, i) => stores[i]!.save({ ...copy!, title: `writer ${i}` })));
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      for (const result of results) {
        if (result.status === 'rejected') {
          expect(result.reason).toBeInstanceOf(SessionConflictError);
          expect([(result.reason as SessionConflictError).expectedVersion, (result.reason as SessionConflictError).actualVersion]).toEqual([
            1, 2,
          ]);
        }
      }
      expect((await two.load('s1'))?.version).toBe(2);
    }),
  );

  it(
    'a session with U+0000 (which jsonb cannot hold) is refused as invalid, and nothing is stored',
    withSchemas(1, async ([schema], open) => {
      const store = open(schema!);
      const session = makeSession('s1', { title: 'nul \u0000 inside' });
      const error = await store.save(session).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(SproutValidationError);
      expect((error as Error).message).toContain('U+0000');
      expect(await store.load('s1')).toBeUndefined();
      // A backslash followed by u0000 is ordinary text.
      await store.save(makeSession('s2', { title: 'literally \\u0000' }));
      expect((await store.load('s2'))?.title).toBe('literally \\u0000');
    }),
  );

  it(
    'a stored row that is not a valid session: load rejects naming it, the lists skip and report it',
    withSchemas(1, async ([schema], open) => {
      const reported: InvalidSessionDataError[] = [];
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema!, onInvalidRow: (e) => reported.push(e) });
      try {
        await store.save(makeSession('good', { parent_session_id: 'root', metadata: { last_run_status: 'running' } }));
        await store.save(makeSession('bad', { parent_session_id: 'root', metadata: { last_run_status: 'running' } }));
        await adminQuery(`UPDATE "${schema}".sessions SET data = jsonb_set(data, '{messages}', '"not a list"') WHERE id = 'bad'`);
        const error = await store.load('bad').catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidSessionDataError);
        expect((error as InvalidSessionDataError).sessionId).toBe('bad');
        expect((await store.listChildren('root')).map((s) => s.id)).toEqual(['good']);
        expect((await store.listByRunStatus(['running'])).map((s) => s.id)).toEqual(['good']);
        expect(reported.map((e) => e.sessionId)).toEqual(['bad', 'bad']);
        expect(store.invalidRows).toHaveLength(2);
      } finally {
        await store.close();
      }
      void open;
    }),
  );

  it(
    'close() closes the companion log (writing what it has pending) and is idempotent; later calls reject',
    withSchemas(1, async ([schema], open) => {
      const store = open(schema!);
      const log = store.openEventLog({ retention: 10, onError: () => undefined });
      expect(store.openEventLog({ retention: 99, onError: () => undefined })).toBe(log);
      const pending = log.append('root', { type: 'token', content: 'late' });
      await store.close();
      await store.close();
      expect((await pending).seq).toBe(1);
      await expect(store.load('root')).rejects.toBeInstanceOf(StoreUnavailableError);
      await expect(log.append('root', { type: 'token', content: 'x' })).rejects.toBeInstanceOf(StoreUnavailableError);
      const again = open(schema!);
      expect((await again.openEventLog({ retention: 10, onError: () => undefined }).read('root', 0)).lastSeq).toBe(1);
    }),
  );

  it('a server that is not there: every method rejects with StoreUnavailableError quickly, the process carries on', async () => {
    const store = new PostgresSessionStore({
      connectionString: 'postgres://root@127.0.0.1:1/postgres',
      poolConfig: { connectionTimeoutMillis: 2000 },
    });
    const started = Date.now();
    const results = await Promise.allSettled([
      store.load('s1'),
      store.save(makeSession('s1')),
      store.delete('s1'),
      store.listChildren('root'),
      store.listByRunStatus(['running']),
    ]);
    expect(Date.now() - started).toBeLessThan(3000);
    for (const result of results) {
      expect(result.status).toBe('rejected');
      const reason = (result as PromiseRejectedResult).reason as StoreUnavailableError;
      expect(reason).toBeInstanceOf(StoreUnavailableError);
      expect(reason.message).toContain('PostgreSQL at 127.0.0.1:1/postgres (schema sprout) is unreachable');
    }
    await store.close();
  });
});

afterAll(async () => {
  expect(undroppedSchemas()).toEqual([]);
  if (unavailable === undefined) expect(await existingSchemas(`sprout_test_${process.pid}_`)).toEqual([]);
});
