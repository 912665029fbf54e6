// Issue 19: an append never holds locks across client round trips. Every batch of the event log
// is ONE autocommitted statement (a call of `append_events`, migration 6) that fences, numbers,
// inserts, writes the run ledger and the run index, and notifies; the fences keep refusing what
// they refused before, and nothing of a refused batch is written.
import { afterEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import type { AgentEvent } from '../../../machines/agent-event.events.js';
import { PostgresDatabase } from '../../../src/adapters/postgres/postgres-database.js';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import { PostgresRunFences } from '../../../src/adapters/postgres/postgres-run-fences.js';
import type { RunFence } from '../../../src/api/ports.js';
import { POSTGRES_URL, adminQuery, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

const base = { parent_session_id: 'p', child_session_id: 'c' } as const;
const started = (runId: string): AgentEvent => ({ type: 'sub_session_started', ...base, run_id: runId, title: 'Survey' });
const heartbeat = (runId: string): AgentEvent => ({
  type: 'sub_session_heartbeat',
  ...base,
  run_id: runId,
  timestamp: '2026-01-01T00:00:01.000Z',
  events_seen: 1,
});
const usage = (runId: string): AgentEvent => ({
  type: 'sub_session_event',
  ...base,
  run_id: runId,
  event: { type: 'complete', usage: { prompt_tokens: 3, completion_tokens: 4, total_tokens: 7 } },
});
const completed = (runId: string): AgentEvent => ({ type: 'sub_session_completed', ...base, run_id: runId, status: 'completed' });

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')(
  'PostgresEventLog: one statement per batch',
  () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterEach(async () => {
      for (const step of cleanups.splice(0).reverse()) await step();
    });

    /** A log with `fenceRuns` on a pool of this test whose clients record every statement they send. */
    const open = async () => {
      const schema = createTestSchema();
      cleanups.push(() => schema.drop());
      const pool = new pg.Pool({ connectionString: POSTGRES_URL });
      cleanups.push(() => pool.end());
      const statements: string[] = [];
      pool.on('connect', (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
          const first = args[0];
          statements.push(typeof first === 'string' ? first : String((first as { text?: string }).text));
          return query(...args);
        };
      });
      const database = new PostgresDatabase({ pool, schema: schema.name });
      const log = new PostgresEventLog({ database, fenceRuns: true });
      cleanups.push(() => log.close());
      await database.ready();
      const fences = new PostgresRunFences(database);
      return { log, fences, statements, schema: schema.name };
    };

    it('a batch with tokens, a run from start to end and two sessions is one statement, no BEGIN/COMMIT', async () => {
      const { log, fences, statements, schema } = await open();
      const fence: RunFence = await fences.claim('r1', 'worker-a');
      statements.length = 0;
      const written = await Promise.all([
        log.append('p', started('r1'), { fence }),
        log.append('p', heartbeat('r1'), { fence }),
        log.append('q', { type: 'token', content: 'hi' }),
        log.append('p', usage('r1'), { fence }),
        log.append('p', completed('r1'), { fence }),
        log.append('p', started('r2')),
      ]);
      expect(statements).toHaveLength(1);
      expect(statements[0]).toMatch(/^SELECT .* FROM "[a-z0-9_]+"\.append_events\(/s);
      expect(written.map((envelope) => `${envelope.sessionId}:${envelope.seq}`)).toEqual(['p:1', 'p:2', 'q:1', 'p:3', 'p:4', 'p:5']);

      // Everything the transaction of old wrote is there: events, ledger, run index.
      expect((await log.read('p', 0)).envelopes.map((envelope) => envelope.event.type)).toEqual([
        'sub_session_started',
        'sub_session_heartbeat',
        'sub_session_event',
        'sub_session_completed',
        'sub_session_started',
      ]);
      expect((await log.openRuns()).map((run) => [run.runId, run.startedSeq, run.title])).toEqual([['r2', 5, 'Survey']]);
      const runs = await adminQuery(
        `SELECT run_id, status, started_at, total_tokens::int AS total, started_seq::int AS started, ended_seq::int AS ended
       FROM "${schema}".runs ORDER BY position`,
      );
      expect(runs).toEqual([
        { run_id: 'r1', status: 'completed', started_at: '2026-01-01T00:00:01.000Z', total: 7, started: 1, ended: 4 },
        { run_id: 'r2', status: 'queued', started_at: null, total: null, started: 5, ended: null },
      ]);

      // The next batch is one statement again.
      statements.length = 0;
      await log.append('p', heartbeat('r2'));
      expect(statements).toHaveLength(1);
    });

    it('a batch written with a stale token is refused whole with RUN_FENCED and nothing of it is written', async () => {
      const { log, fences, statements, schema } = await open();
      const stale = await fences.claim('r1', 'worker-a');
      await fences.claim('r1', 'worker-b');
      statements.length = 0;
      const results = await Promise.allSettled([
        log.append('p', started('r1'), { fence: stale }),
        log.append('p', heartbeat('r1'), { fence: stale }),
        log.append('p', completed('r1'), { fence: stale }),
      ]);
      expect(statements).toHaveLength(1);
      for (const result of results) {
        expect(result.status).toBe('rejected');
        expect((result as PromiseRejectedResult).reason).toMatchObject({ code: 'RUN_FENCED', runId: 'r1', epoch: 1 });
      }
      expect(await log.read('p', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
      expect(await log.openRuns()).toEqual([]);
      for (const table of ['events', 'event_seqs', 'open_runs', 'runs']) {
        expect(await adminQuery(`SELECT * FROM "${schema}".${table}`), table).toEqual([]);
      }
    });

    it('in one batch, a stale token gets RUN_FENCED, a run never opened EVENT_LOG_FAILED, and the rest is written in order', async () => {
      const { log, fences } = await open();
      const stale = await fences.claim('r1', 'worker-a');
      await fences.claim('r1', 'worker-b');
      const results = await Promise.allSettled([
        log.append('p', { type: 'token', content: 'one' }),
        log.append('p', heartbeat('never-started')),
        log.append('p', started('r1'), { fence: stale }),
        log.append('p', { type: 'token', content: 'two' }),
      ]);
      expect(
        results.map((result) => (result.status === 'fulfilled' ? result.value.seq : (result.reason as { code: string }).code)),
      ).toEqual([1, 'EVENT_LOG_FAILED', 'RUN_FENCED', 2]);
      expect((await log.read('p', 0)).envelopes.map((envelope) => envelope.seq)).toEqual([1, 2]);
    });
  },
);
