// Ownership tokens of distributed runs: a claim bumps the run's epoch, and every write carrying an
// older epoch (an event append, a session save) is refused with RunFencedError and stores nothing.
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import { PostgresRunFences } from '../../../src/adapters/postgres/postgres-run-fences.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { RunFencedError } from '../../../src/errors.js';
import { makeSession } from '../../../src/testing/index.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

const started = (runId: string) => ({ type: 'sub_session_started', parent_session_id: 'p', child_session_id: 'c', run_id: runId }) as const;
const completed = (runId: string) =>
  ({ type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', run_id: runId, status: 'completed' }) as const;

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('PostgreSQL run fences', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  const open = () => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
    cleanups.push(() => store.close());
    const log = new PostgresEventLog({ database: store.database, fenceRuns: true });
    cleanups.push(() => log.close());
    return { store, log, fences: new PostgresRunFences(store.database), schema: schema.name };
  };

  it('a claim gives the next epoch; the older token can no longer append or save', async () => {
    const { store, log, fences } = open();
    await store.database.ready();
    const first = await fences.claim('run-1', 'worker-a');
    expect(first).toEqual({ runId: 'run-1', epoch: 1 });
    const child = makeSession('c', { parent_session_id: 'p' });
    await store.save(child, { fence: first });
    await log.append('p', started('run-1'), { fence: first });

    const second = await fences.claim('run-1', 'worker-b');
    expect(second.epoch).toBe(2);
    expect(await fences.current('run-1')).toEqual({ owner: 'worker-b', epoch: 2 });

    // The lost owner's final save and completion: refused, nothing stored.
    const stale = { ...child, metadata: { ...child.metadata, last_run_status: 'completed' as const }, version: child.version };
    await expect(store.save(stale, { fence: first })).rejects.toBeInstanceOf(RunFencedError);
    await expect(log.append('p', completed('run-1'), { fence: first })).rejects.toMatchObject({ code: 'RUN_FENCED', runId: 'run-1' });
    expect((await store.load('c'))?.metadata.last_run_status).toBeUndefined();
    expect((await log.read('p', 0)).envelopes.map((e) => e.event.type)).toEqual(['sub_session_started']);
    expect(await log.openRuns()).toHaveLength(1);

    // The new owner's writes go through, unversioned and versioned.
    const fresh = (await store.load('c'))!;
    fresh.metadata.last_run_status = 'error';
    await store.save(fresh, { fence: second });
    expect((await store.load('c'))?.metadata.last_run_status).toBe('error');
    const envelope = await log.append('p', completed('run-1'), { fence: second });
    expect(envelope.seq).toBe(2);
    expect(await log.openRuns()).toHaveLength(0);
  });

  it('a fenced append in a batch with unfenced ones is refused alone', async () => {
    const { log, fences, store } = open();
    await store.database.ready();
    const stale = await fences.claim('run-x', 'a');
    await fences.claim('run-x', 'b');
    const results = await Promise.allSettled([
      log.append('p', { type: 'token', content: 'one' }),
      log.append('p', started('run-x'), { fence: stale }),
      log.append('p', { type: 'token', content: 'two' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await log.read('p', 0)).envelopes.map((e) => e.seq)).toEqual([1, 2]);
  });

  it('a token of a run never claimed is refused (no row: no owner)', async () => {
    const { store } = open();
    await store.database.ready();
    const child = makeSession('c2', { parent_session_id: 'p' });
    await expect(store.save(child, { fence: { runId: 'never', epoch: 1 } })).rejects.toBeInstanceOf(RunFencedError);
    expect(await store.load('c2')).toBeUndefined();
  });

  it('a takeover waits for a fenced write in flight and the write after it is refused', async () => {
    const { store, log, fences, schema } = open();
    await store.database.ready();
    const first = await fences.claim('run-2', 'a');
    // Another connection holds the fence row FOR SHARE (a write in flight) until released.
    const holder = new pg.Client({ connectionString: POSTGRES_URL });
    await holder.connect();
    cleanups.push(() => holder.end());
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM "${schema}".run_fences WHERE run_id = 'run-2' FOR SHARE`);
    let claimed = false;
    const takeover = fences.claim('run-2', 'b').then((fence) => {
      claimed = true;
      return fence;
    });
    // The claim cannot finish while the share lock is held.
    await expect
      .poll(async () => {
        const { rows } = await holder.query<{ waiting: number }>(
          `SELECT count(*)::int AS waiting FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%run_fences%'`,
        );
        return rows[0]!.waiting;
      })
      .toBeGreaterThan(0);
    expect(claimed).toBe(false);
    await holder.query('COMMIT');
    expect((await takeover).epoch).toBe(2);
    await expect(log.append('p', started('run-2'), { fence: first })).rejects.toBeInstanceOf(RunFencedError);
  });

  it('connections end a transaction left idle, so a stopped writer cannot hold locks for ever', async () => {
    const { store } = open();
    await store.database.ready();
    const { rows } = await store.database.pool.query<{ idle: string; lock: string }>(
      "SELECT current_setting('idle_in_transaction_session_timeout') AS idle, current_setting('lock_timeout') AS lock",
    );
    expect(rows[0]).toEqual({ idle: '10s', lock: '5s' });
  });
});
