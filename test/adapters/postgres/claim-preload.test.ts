// The child row a worker's claim reads (claimAndInspect) and serves to that run's first load
// instead of reading it again: only under the very claim that read it, only once, and never after
// a save of the child went through the worker's store.
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresRunFences } from '../../../src/adapters/postgres/postgres-run-fences.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import type { RunFence } from '../../../src/api/ports.js';
import { PreloadedSessions, workerSessionStore, type WorkerFencing } from '../../../src/distributed/embedded-ports.js';
import { InvalidSessionDataError } from '../../../src/errors.js';
import { makeSession } from '../../../src/testing/index.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('a claim preloads the child for its run', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  const open = () => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
    cleanups.push(() => store.close());
    const bySession = new Map<string, RunFence>();
    const fencing: WorkerFencing = { byRun: () => undefined, bySession: (id) => bySession.get(id), onFenced: () => undefined };
    const preloaded = new PreloadedSessions();
    return {
      store,
      fences: new PostgresRunFences(store.database),
      bySession,
      preloaded,
      worker: workerSessionStore(store, fencing, preloaded),
    };
  };

  /** Counts the statements sent to the pool from now on. */
  const countStatements = (store: PostgresSessionStore): (() => number) => {
    const pool = store.database.pool as unknown as { query: (...args: unknown[]) => unknown };
    const query = pool.query.bind(pool);
    let count = 0;
    pool.query = (...args: unknown[]) => {
      count++;
      return query(...args);
    };
    return () => count;
  };

  it('the claim reads the child row; its run’s first load gets it without a statement, a second load reads the store', async () => {
    const { store, fences, bySession, preloaded, worker } = open();
    const child = makeSession('c1', { parent_session_id: 'p' });
    await store.save(child);
    const claimed = await fences.claimAndInspect('r1', 'w', 1, 'c1');
    expect(claimed.fence).toEqual({ runId: 'r1', epoch: 1 });
    expect(claimed.child?.stored.version).toBe(child.version);
    bySession.set('c1', claimed.fence!);
    preloaded.offer('c1', claimed.fence!, claimed.child!.stored);

    const statements = countStatements(store);
    const first = await worker.load('c1');
    expect(statements()).toBe(0);
    expect(first).toEqual(await store.load('c1'));
    expect(preloaded.size).toBe(0);
    const before = statements();
    await worker.load('c1');
    expect(statements()).toBe(before + 1);
  });

  it('served only under the claim that read it: another run or epoch reads the store', async () => {
    const { store, fences, bySession, preloaded, worker } = open();
    await store.save(makeSession('c1', { parent_session_id: 'p' }));
    const claimed = await fences.claimAndInspect('r1', 'w', 1, 'c1');
    preloaded.offer('c1', claimed.fence!, claimed.child!.stored);
    bySession.set('c1', { runId: 'r1', epoch: 2 });
    const stored = await store.load('c1');
    stored!.title = 'changed after the claim';
    await store.save(stored!);
    expect((await worker.load('c1'))?.title).toBe('changed after the claim');
    expect(preloaded.size).toBe(0);

    preloaded.offer('c1', claimed.fence!, claimed.child!.stored);
    bySession.delete('c1');
    expect((await worker.load('c1'))?.title).toBe('changed after the claim');
  });

  it('a save of the child through the worker drops the row; so does the end of the run', async () => {
    const { store, fences, bySession, preloaded, worker } = open();
    await store.save(makeSession('c1', { parent_session_id: 'p' }));
    const claimed = await fences.claimAndInspect('r1', 'w', 1, 'c1');
    bySession.set('c1', claimed.fence!);
    preloaded.offer('c1', claimed.fence!, claimed.child!.stored);
    const mine = (await store.load('c1'))!;
    mine.title = 'saved by the run';
    await worker.save(mine);
    expect(preloaded.size).toBe(0);
    expect((await worker.load('c1'))?.title).toBe('saved by the run');

    preloaded.offer('c1', claimed.fence!, claimed.child!.stored);
    preloaded.drop('c1', 'another-run');
    expect(preloaded.size).toBe(1);
    preloaded.drop('c1', 'r1');
    expect(preloaded.size).toBe(0);
  });

  it('a preloaded row is checked against the session schema as a load is', async () => {
    const { fences, bySession, preloaded, worker, store } = open();
    await store.save(makeSession('c1', { parent_session_id: 'p' }));
    const claimed = await fences.claimAndInspect('r1', 'w', 1, 'c1');
    bySession.set('c1', claimed.fence!);
    preloaded.offer('c1', claimed.fence!, { version: 1, data: { id: 'c1', nonsense: true } });
    await expect(worker.load('c1')).rejects.toBeInstanceOf(InvalidSessionDataError);
  });

  it('a claim of a child that is gone reads no row', async () => {
    const { fences } = open();
    const claimed = await fences.claimAndInspect('r1', 'w', 1, 'missing');
    expect(claimed.fence).toEqual({ runId: 'r1', epoch: 1 });
    expect(claimed.child).toBeUndefined();
  });
});
