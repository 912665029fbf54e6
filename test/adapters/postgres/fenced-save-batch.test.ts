// Fenced saves written together (issue 19: fewer round trips): concurrent saves under ownership
// tokens go in one statement, yet each keeps its own answer — its token, its expected version,
// its data — and two saves of one session are written in call order.
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PostgresRunFences } from '../../../src/adapters/postgres/postgres-run-fences.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { RunFencedError, SessionConflictError, SproutValidationError, StoreUnavailableError } from '../../../src/errors.js';
import { makeSession } from '../../../src/testing/index.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('PostgreSQL fenced saves, batched', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  /** A store on a pool whose statements are recorded (text, and how many sessions a batch carried). */
  const open = async (options?: string) => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4, ...(options === undefined ? {} : { options }) });
    cleanups.push(() => pool.end());
    const statements: string[] = [];
    const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
    (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
      const config = args[0] as string | { text: string };
      statements.push(typeof config === 'string' ? config : config.text);
      return query(...args);
    };
    const store = new PostgresSessionStore({ schema: schema.name, pool });
    cleanups.push(() => store.close());
    await store.database.ready();
    const fences = new PostgresRunFences(store.database);
    statements.length = 0;
    const batches = () => statements.filter((text) => text.includes('unnest(') && text.includes('fence_epoch'));
    return { store, fences, statements, batches, schema: schema.name };
  };

  it('concurrent saves of different sessions share statements, each saved with its own version', async () => {
    const { store, fences, batches } = await open();
    const tokens = await Promise.all(Array.from({ length: 12 }, (_, i) => fences.claim(`run-${i}`, 'w')));
    const sessions = tokens.map((_, i) => makeSession(`c${i}`, { parent_session_id: 'p' }));
    await Promise.all(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    expect(batches().length).toBeGreaterThan(0);
    for (const [i, session] of sessions.entries()) {
      expect(session.version).toBe(1);
      session.metadata.last_run_status = 'completed';
      session.title = `done ${i}`;
    }
    await Promise.all(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    for (const [i] of sessions.entries()) {
      const stored = await store.load(`c${i}`);
      expect(stored).toMatchObject({ version: 2, title: `done ${i}`, metadata: { last_run_status: 'completed' } });
    }
  });

  it('in one batch, a stale token and a stale version fail alone; the others are saved', async () => {
    const { store, fences, batches } = await open();
    const tokens = await Promise.all(Array.from({ length: 8 }, (_, i) => fences.claim(`run-${i}`, 'w')));
    const sessions = tokens.map((_, i) => makeSession(`c${i}`, { parent_session_id: 'p' }));
    await Promise.all(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    // run-3 is taken over; c5's writer saves over a version it did not read.
    await fences.claim('run-3', 'other');
    sessions[5]!.version = 7;
    for (const session of sessions) session.title = 'second';
    const before = batches().length;
    const results = await Promise.allSettled(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    expect(batches().length).toBeGreaterThan(before);
    expect(results[3]).toMatchObject({ status: 'rejected', reason: expect.any(RunFencedError) as unknown });
    expect(results[5]).toMatchObject({ status: 'rejected', reason: expect.any(SessionConflictError) as unknown });
    for (const i of [0, 1, 2, 4, 6, 7]) {
      expect(results[i]?.status).toBe('fulfilled');
      expect(await store.load(`c${i}`)).toMatchObject({ version: 2, title: 'second' });
    }
    const c3 = await store.load('c3');
    expect(c3?.version).toBe(1);
    expect(c3?.title).not.toBe('second');
    expect(await store.load('c5')).toMatchObject({ version: 1 });
  });

  it('saves of one session are written in call order, never in one statement', async () => {
    const { store, fences, batches } = await open();
    const token = await fences.claim('run-1', 'w');
    const others = await Promise.all(Array.from({ length: 4 }, (_, i) => fences.claim(`other-${i}`, 'w')));
    const session = makeSession('c', { parent_session_id: 'p' });
    await store.save(session, { fence: token });
    // Unversioned copies (last write wins): the order decides what stays.
    const copies = Array.from({ length: 5 }, (_, i) => ({ ...session, title: `copy ${i}`, version: undefined }));
    const fillers = others.map((other, i) => makeSession(`f${i}`, { parent_session_id: 'p' }));
    await Promise.all([
      ...copies.map((copy) => store.save(copy, { fence: token })),
      ...fillers.map((filler, i) => store.save(filler, { fence: others[i] })),
    ]);
    expect(await store.load('c')).toMatchObject({ title: 'copy 4', version: 6 });
    expect(copies.map((copy) => copy.version)).toEqual([2, 3, 4, 5, 6]);
    expect(batches().length).toBeGreaterThan(0);
  });

  it('a session PostgreSQL cannot store fails alone when it shares a statement', async () => {
    const { store, fences } = await open();
    const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => fences.claim(`run-${i}`, 'w')));
    const sessions = tokens.map((_, i) => makeSession(`c${i}`, { parent_session_id: 'p' }));
    sessions[2]!.title = 'nul \u0000 inside';
    const results = await Promise.allSettled(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    expect(results[2]).toMatchObject({ status: 'rejected', reason: expect.any(SproutValidationError) as unknown });
    for (const i of [0, 1, 3, 4, 5]) expect(results[i]?.status).toBe('fulfilled');
    expect(await store.load('c2')).toBeUndefined();
    expect(await store.load('c4')).toMatchObject({ version: 1 });
  });

  it('a session row another transaction locks holds the others back until lock_timeout at most', async () => {
    const { store, fences, schema, batches } = await open('-c lock_timeout=1000');
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => fences.claim(`run-${i}`, 'w')));
    const sessions = tokens.map((_, i) => makeSession(`c${i}`, { parent_session_id: 'p' }));
    await Promise.all(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    const holder = new pg.Client({ connectionString: POSTGRES_URL });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".sessions WHERE id IN ('c0', 'c1') FOR UPDATE`);
    for (const session of sessions) session.title = 'again';
    // Two saves take both lanes first, so c0…c9 queue behind them and share one statement, which
    // waits on c0's lock until the timeout; then each of them is saved alone.
    const fillerTokens = await Promise.all([0, 1].map((i) => fences.claim(`filler-${i}`, 'w')));
    const before = batches().length;
    const fillers = [0, 1].map((i) => store.save(makeSession(`f${i}`, { parent_session_id: 'p' }), { fence: fillerTokens[i] }));
    // Every other session is saved while c0 and c1 stay locked; those two fail with the lock timeout.
    const results = await Promise.allSettled(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    await Promise.all(fillers);
    expect(batches().length).toBeGreaterThan(before);
    expect(results.slice(0, 2)).toEqual([
      { status: 'rejected', reason: expect.any(StoreUnavailableError) as unknown },
      { status: 'rejected', reason: expect.any(StoreUnavailableError) as unknown },
    ]);
    expect(results.slice(2).map((result) => result.status)).toEqual(Array(8).fill('fulfilled'));
    for (let i = 2; i < 10; i++) expect(await store.load(`c${i}`)).toMatchObject({ version: 2, title: 'again' });
    await holder.query('COMMIT');
    sessions[0]!.version = 1;
    await store.save(sessions[0]!, { fence: tokens[0] });
    expect(await store.load('c0')).toMatchObject({ version: 2, title: 'again' });
  });

  it('close() writes the saves already queued, then closes', async () => {
    const { store, fences } = await open();
    const tokens = await Promise.all(Array.from({ length: 6 }, (_, i) => fences.claim(`run-${i}`, 'w')));
    const sessions = tokens.map((_, i) => makeSession(`c${i}`, { parent_session_id: 'p' }));
    const saves = Promise.allSettled(sessions.map((session, i) => store.save(session, { fence: tokens[i] })));
    // Every save above passed its closed check (they wait for the migration check only).
    await Promise.resolve();
    const closed = store.close();
    const results = await saves;
    await closed;
    expect(results.map((result) => result.status)).toEqual(Array(6).fill('fulfilled'));
  });
});
