// `PostgresSessionStore.saveAndAppend`: a fenced save and an event append in ONE statement — both
// written or neither, whatever refuses or fails.
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import { PostgresRunFences } from '../../../src/adapters/postgres/postgres-run-fences.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { RunFencedError, SessionConflictError, SproutValidationError, StoreUnavailableError } from '../../../src/errors.js';
import { makeSession } from '../../../src/testing/index.js';
import { POSTGRES_URL, adminQuery, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

const ended = { type: 'error', message: 'interrupted' } as const;

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('PostgresSessionStore.saveAndAppend', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  const open = async () => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
    cleanups.push(() => store.close());
    const log = new PostgresEventLog({ database: store.database, fenceRuns: true });
    cleanups.push(() => log.close());
    await store.database.ready();
    const fences = new PostgresRunFences(store.database);
    const root = makeSession('r', { kind: 'root' });
    await store.save(root);
    await log.append('r', { type: 'token', content: 'hi' });
    return { store, log, fences, root, schema: schema.name };
  };

  it('writes the session and the event together: the new version and the next seq', async () => {
    const { store, log, fences, root } = await open();
    const token = await fences.claim('run-r', 'w');
    root.metadata.last_run_status = 'error';
    const envelope = await store.saveAndAppend(root, token, log, 'r', ended);
    expect(envelope).toEqual({ seq: 2, sessionId: 'r', event: ended });
    expect(root.version).toBe(2);
    expect(await store.load('r')).toMatchObject({ version: 2, metadata: { last_run_status: 'error' } });
    expect((await log.read('r', 0)).envelopes.map((e) => e.event)).toEqual([{ type: 'token', content: 'hi' }, ended]);
  });

  it('a stale token writes neither (RunFencedError)', async () => {
    const { store, log, fences, root } = await open();
    const stale = await fences.claim('run-r', 'w');
    await fences.claim('run-r', 'newer');
    root.metadata.last_run_status = 'error';
    await expect(store.saveAndAppend(root, stale, log, 'r', ended)).rejects.toBeInstanceOf(RunFencedError);
    expect(await store.load('r')).toMatchObject({ version: 1 });
    expect((await store.load('r'))?.metadata.last_run_status).toBeUndefined();
    expect((await log.read('r', 0)).lastSeq).toBe(1);
  });

  it('a stale version writes neither (SessionConflictError)', async () => {
    const { store, log, fences, root } = await open();
    const token = await fences.claim('run-r', 'w');
    const other = (await store.load('r'))!;
    other.title = 'moved on';
    await store.save(other);
    root.metadata.last_run_status = 'error';
    await expect(store.saveAndAppend(root, token, log, 'r', ended)).rejects.toBeInstanceOf(SessionConflictError);
    expect(await store.load('r')).toMatchObject({ version: 2, title: 'moved on' });
    expect((await log.read('r', 0)).lastSeq).toBe(1);
  });

  it('an append that fails takes the save back with it', async () => {
    const { store, log, fences, root, schema } = await open();
    const token = await fences.claim('run-r', 'w');
    await adminQuery(`CREATE FUNCTION "${schema}".refuse() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN RAISE EXCEPTION 'injected'; END $fn$`);
    await adminQuery(`CREATE TRIGGER refuse BEFORE INSERT ON "${schema}".events FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse()`);
    root.metadata.last_run_status = 'error';
    await expect(store.saveAndAppend(root, token, log, 'r', ended)).rejects.toBeInstanceOf(StoreUnavailableError);
    expect(await store.load('r')).toMatchObject({ version: 1 });
    expect((await store.load('r'))?.metadata.last_run_status).toBeUndefined();
    await adminQuery(`DROP TRIGGER refuse ON "${schema}".events`);
    expect((await log.read('r', 0)).lastSeq).toBe(1);
  });

  it('refuses an event of the run ledger before writing anything', async () => {
    const { store, log, fences, root } = await open();
    const token = await fences.claim('run-r', 'w');
    const heartbeat = {
      type: 'sub_session_heartbeat',
      parent_session_id: 'r',
      child_session_id: 'c',
      run_id: 'run-c',
      timestamp: '2026-01-01T00:00:00.000Z',
      events_seen: 0,
    } as const;
    await expect(store.saveAndAppend(root, token, log, 'r', heartbeat)).rejects.toBeInstanceOf(SproutValidationError);
    expect(await store.load('r')).toMatchObject({ version: 1 });
    expect((await log.read('r', 0)).lastSeq).toBe(1);
  });

  it('writes after the appends the log still holds: the stream keeps call order', async () => {
    const { store, log, fences, root } = await open();
    const token = await fences.claim('run-r', 'w');
    const earlier = log.append('r', { type: 'token', content: 'before' });
    const envelope = await store.saveAndAppend(root, token, log, 'r', ended);
    expect((await earlier).seq).toBe(2);
    expect(envelope.seq).toBe(3);
    expect((await log.read('r', 0)).envelopes.map((e) => e.event)).toEqual([
      { type: 'token', content: 'hi' },
      { type: 'token', content: 'before' },
      ended,
    ]);
  });

  it('refuses an event log on another database object before writing anything', async () => {
    const { store, fences, root } = await open();
    const other = createTestSchema();
    cleanups.push(() => other.drop());
    const elsewhere = new PostgresEventLog({ connectionString: POSTGRES_URL, schema: other.name });
    cleanups.push(() => elsewhere.close());
    const token = await fences.claim('run-r', 'w');
    await expect(store.saveAndAppend(root, token, elsewhere, 'r', ended)).rejects.toBeInstanceOf(SproutValidationError);
    expect(await store.load('r')).toMatchObject({ version: 1 });
  });
});
