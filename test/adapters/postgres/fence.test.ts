import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import { EventLogError } from '../../../src/errors.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

const started = (runId: string) => ({ type: 'sub_session_started', parent_session_id: 'p', child_session_id: 'c', run_id: runId }) as const;
const heartbeat = (runId: string) =>
  ({
    type: 'sub_session_heartbeat',
    parent_session_id: 'p',
    child_session_id: 'c',
    run_id: runId,
    timestamp: '2026-01-01T00:00:00.000Z',
    events_seen: 0,
  }) as const;
const completed = (runId: string) =>
  ({ type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', run_id: runId, status: 'completed' }) as const;

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('PostgresEventLog fenceRuns', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('nothing of a run is written after its completion, from this log or another on the same schema; other events go on', async () => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const a = new PostgresEventLog({ connectionString: POSTGRES_URL, schema: schema.name, fenceRuns: true });
    const b = new PostgresEventLog({ connectionString: POSTGRES_URL, schema: schema.name, fenceRuns: true });
    cleanups.push(
      () => a.close(),
      () => b.close(),
    );
    await a.append('p', started('r1'));
    await a.append('p', heartbeat('r1'));
    // Another writer (the worker that took the run over) ends it.
    await b.append('p', completed('r1'));
    // The first writer, unaware, keeps writing: refused, and nothing is stored.
    await expect(a.append('p', heartbeat('r1'))).rejects.toBeInstanceOf(EventLogError);
    await expect(a.append('p', completed('r1'))).rejects.toBeInstanceOf(EventLogError);
    // In one batch: a new run opens, runs, closes; a late event of it is refused, the rest written.
    const batch = [
      a.append('p', started('r2')),
      a.append('p', heartbeat('r2')),
      a.append('p', completed('r2')),
      a.append('p', heartbeat('r2')),
    ];
    const settled = await Promise.allSettled(batch);
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    const { envelopes } = await a.read('p', 0);
    expect(envelopes.map((e) => `${e.seq}:${e.event.type}`)).toEqual([
      '1:sub_session_started',
      '2:sub_session_heartbeat',
      '3:sub_session_completed',
      '4:sub_session_started',
      '5:sub_session_heartbeat',
      '6:sub_session_completed',
    ]);
    // Events of no run are never fenced; a run never opened is.
    await expect(a.append('p', { type: 'token', content: 'x' })).resolves.toMatchObject({ seq: 7 });
    await expect(a.append('p', heartbeat('never-started'))).rejects.toBeInstanceOf(EventLogError);
    expect(await a.openRuns()).toEqual([]);
  });
});
