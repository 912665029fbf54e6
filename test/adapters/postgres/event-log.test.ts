// What the PostgreSQL event log promises beyond the conformance suites: seq assigned by the
// database across writers in several processes (two logs, two pools), group commit that is all or
// nothing, cross-process fan-out through LISTEN/NOTIFY, retention pruning, and failures that are
// typed and never crash the process.
import { afterAll, describe, expect, it } from 'vitest';
import { filter, firstValueFrom, take, toArray } from 'rxjs';
import pg from 'pg';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { PostgresEventLog, type PostgresEventLogChange } from '../../../src/adapters/postgres/postgres-event-log.js';
import { SproutValidationError, StoreUnavailableError } from '../../../src/errors.js';
import {
  POSTGRES_URL,
  adminQuery,
  createTestSchema,
  existingSchemas,
  postgresUnavailable,
  undroppedSchemas,
} from '../../support/postgres.js';

const unavailable = await postgresUnavailable();
const token = (content: string): AgentEvent => ({ type: 'token', content });
const contentOf = (envelope: SessionEventEnvelope): string => (envelope.event.type === 'token' ? envelope.event.content : '?');

/** Runs `body` with a fresh schema and the logs it opens on it (closed, and the schema dropped, afterwards). */
function withSchema(
  body: (open: (options?: { retention?: number; applicationName?: string }) => PostgresEventLog, schema: string) => Promise<void>,
) {
  return async () => {
    const schema = createTestSchema();
    const logs: PostgresEventLog[] = [];
    const open = (options: { retention?: number; applicationName?: string } = {}): PostgresEventLog => {
      const log = new PostgresEventLog({
        connectionString: POSTGRES_URL,
        schema: schema.name,
        retention: options.retention ?? 2000,
        ...(options.applicationName === undefined ? {} : { poolConfig: { application_name: options.applicationName } }),
      });
      logs.push(log);
      return log;
    };
    try {
      await body(open, schema.name);
    } finally {
      await Promise.allSettled(logs.map((log) => log.close()));
      await schema.drop();
    }
  };
}

describe.skipIf(unavailable !== undefined)('PostgresEventLog', () => {
  describe('seq under concurrent writers (two logs on one schema behave like two processes)', () => {
    it(
      '2×500 interleaved appends to one session get seqs 1..1000 exactly once, each log in its call order',
      withSchema(async (open) => {
        const a = open();
        const b = open();
        const answers: Promise<SessionEventEnvelope>[] = [];
        for (let i = 0; i < 500; i++) {
          answers.push(a.append('shared', token(`a${i}`)));
          answers.push(b.append('shared', token(`b${i}`)));
        }
        const envelopes = await Promise.all(answers);
        const seqs = envelopes.map((envelope) => envelope.seq).sort((x, y) => x - y);
        expect(seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
        for (const prefix of ['a', 'b']) {
          const mine = envelopes.filter((envelope) => contentOf(envelope).startsWith(prefix));
          expect(mine.map(contentOf)).toEqual(Array.from({ length: 500 }, (_, i) => `${prefix}${i}`));
          const own = mine.map((envelope) => envelope.seq);
          expect(own).toEqual([...own].sort((x, y) => x - y));
        }
        // Both logs read the same 1000 envelopes, each stored under the seq its append answered.
        for (const log of [a, b]) {
          const read = await log.read('shared', 0);
          expect(read.lastSeq).toBe(1000);
          expect(read.firstRetainedSeq).toBe(1);
          expect(read.envelopes.map((envelope) => envelope.seq)).toEqual(seqs);
          const bySeq = new Map(envelopes.map((envelope) => [envelope.seq, contentOf(envelope)]));
          expect(read.envelopes.every((envelope) => bySeq.get(envelope.seq) === contentOf(envelope))).toBe(true);
        }
      }),
    );

    it(
      'many small transactions from both logs racing for the same rows stay contiguous (and deadlock-free across sessions)',
      withSchema(async (open) => {
        const a = open();
        const b = open();
        const answers: Promise<SessionEventEnvelope>[] = [];
        for (let round = 0; round < 40; round++) {
          // Each log writes both sessions in the opposite order: the seq rows are still locked in one order.
          answers.push(a.append('x', token(`a${round}`)), a.append('y', token(`a${round}`)));
          answers.push(b.append('y', token(`b${round}`)), b.append('x', token(`b${round}`)));
          await new Promise((resolve) => setImmediate(resolve));
        }
        const envelopes = await Promise.all(answers);
        for (const session of ['x', 'y']) {
          const seqs = envelopes.filter((envelope) => envelope.sessionId === session).map((envelope) => envelope.seq);
          expect(seqs.sort((p, q) => p - q)).toEqual(Array.from({ length: 80 }, (_, i) => i + 1));
          expect((await a.read(session, 0)).envelopes).toHaveLength(80);
        }
      }),
    );
  });

  describe('group commit', () => {
    it(
      'appends of one tick are one transaction, in call order; each resolves after the commit',
      withSchema(async (open, schema) => {
        const log = open();
        const answers = Array.from({ length: 10 }, (_, i) => log.append(i % 2 === 0 ? 'p' : 'q', token(String(i))));
        const envelopes = await Promise.all(answers);
        expect(envelopes.map((envelope) => [envelope.sessionId, envelope.seq])).toEqual([
          ['p', 1],
          ['q', 1],
          ['p', 2],
          ['q', 2],
          ['p', 3],
          ['q', 3],
          ['p', 4],
          ['q', 4],
          ['p', 5],
          ['q', 5],
        ]);
        // Rows written by one transaction share its xmin.
        const [row] = await adminQuery<{ transactions: string; rows: string }>(
          `SELECT count(DISTINCT xmin::text) AS transactions, count(*) AS rows FROM "${schema}".events`,
        );
        expect(row).toEqual({ transactions: '1', rows: '10' });
        // Appends made while that transaction was in flight went into the next one.
        await log.append('p', token('later'));
        expect((await log.read('p', 0)).lastSeq).toBe(6);
      }),
    );

    it(
      'a failed transaction rejects every append of its batch, none of them is visible, and the next append reuses the seq',
      withSchema(async (open, schema) => {
        const log = open();
        await log.append('p', token('first')); // migrates the schema and writes seq 1
        // Rig the schema: an event with content "boom" makes the insert fail.
        await adminQuery(`CREATE FUNCTION "${schema}".refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
          BEGIN IF NEW.event->>'content' = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$`);
        await adminQuery(
          `CREATE TRIGGER refuse_boom BEFORE INSERT ON "${schema}".events FOR EACH ROW EXECUTE FUNCTION "${schema}".refuse_boom()`,
        );
        const batch = [
          log.append('p', token('ok 1')),
          log.append('q', started('q', 'c1', 'r1')),
          log.append('p', token('boom')),
          log.append('p', token('ok 2')),
        ];
        const settled = await Promise.allSettled(batch);
        expect(settled.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
        for (const result of settled) {
          const reason = (result as PromiseRejectedResult).reason as StoreUnavailableError;
          expect(reason).toBeInstanceOf(StoreUnavailableError);
          expect(reason.message).toContain('boom refused');
        }
        expect(await log.read('p', 0)).toEqual({
          envelopes: [{ seq: 1, sessionId: 'p', event: token('first') }],
          firstRetainedSeq: 1,
          lastSeq: 1,
        });
        expect((await log.read('q', 0)).lastSeq).toBe(0);
        expect(await log.openRuns()).toEqual([]);
        expect((await log.append('p', token('after'))).seq).toBe(2);
      }),
    );

    it(
      'the run ledger changes in the same transaction as the events (open and close within one batch)',
      withSchema(async (open) => {
        const log = open();
        await Promise.all([
          log.append('p', started('p', 'c1', 'r1')),
          log.append('p', started('p', 'c2', 'r2')),
          log.append('p', completed('p', 'c1', 'r1')),
        ]);
        expect(await log.openRuns()).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c2', title: 'T', startedSeq: 2 }]);
        // Another process sees the same ledger.
        expect(await open().openRuns()).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c2', title: 'T', startedSeq: 2 }]);
      }),
    );

    it(
      'a session id PostgreSQL cannot store is refused alone; the rest of its batch is written',
      withSchema(async (open) => {
        const log = open();
        const [good, bad] = await Promise.allSettled([log.append('p', token('1')), log.append('bad\u0000id', token('x'))]);
        expect(good.status).toBe('fulfilled');
        expect((bad as PromiseRejectedResult).reason).toBeInstanceOf(SproutValidationError);
        expect((await log.read('p', 0)).lastSeq).toBe(1);
      }),
    );

    it(
      'keeps an event with U+0000 in a string (json, not jsonb)',
      withSchema(async (open) => {
        const log = open();
        await log.append('p', token('a\u0000b'));
        expect((await log.read('p', 0)).envelopes[0]?.event).toEqual(token('a\u0000b'));
      }),
    );
  });

  describe('retention', () => {
    it(
      'deletes rows beyond retention (by a tenth of slack) and keeps lastSeq across them',
      withSchema(async (open, schema) => {
        const log = open({ retention: 20 });
        for (let i = 1; i <= 100; i++) await log.append('p', token(String(i)));
        const [row] = await adminQuery<{ rows: string; first: string }>(
          `SELECT count(*) AS rows, min(seq) AS first FROM "${schema}".events WHERE session_id = 'p'`,
        );
        expect(Number(row?.rows)).toBeLessThanOrEqual(22);
        expect(Number(row?.rows)).toBeGreaterThanOrEqual(20);
        const read = await log.read('p', 0);
        expect([read.firstRetainedSeq, read.lastSeq, read.envelopes.length]).toEqual([81, 100, 20]);
      }),
    );
  });

  describe('live fan-out across processes (LISTEN/NOTIFY)', () => {
    it(
      'a log in another "process" streams what this one appends: replay, then live, in seq order, each once',
      withSchema(async (open) => {
        const writer = open();
        const server = open();
        await writer.append('root', token('before'));
        const envelopes: SessionEventEnvelope[] = [];
        const subscription = server.live('root', { afterSeq: 0 }).subscribe((envelope) => envelopes.push(envelope));
        const changes = firstValueFrom(
          server.changes$.pipe(
            filter((change): change is Extract<PostgresEventLogChange, { type: 'appended' }> => change.type === 'appended'),
            take(1),
          ),
        );
        // live() listens before it replays: once the replay arrived, the server is listening.
        await waitFor(() => envelopes.length === 1);
        await Promise.all([1, 2, 3].map((i) => writer.append('root', token(`live ${i}`)))); // one batch: one notification
        await writer.append('other', token('not followed'));
        await Promise.all([4, 5].map((i) => writer.append('root', token(`live ${i}`))));
        await waitFor(() => envelopes.length === 6);
        await new Promise((resolve) => setTimeout(resolve, 50));
        subscription.unsubscribe();
        expect(envelopes.map((envelope) => envelope.seq)).toEqual([1, 2, 3, 4, 5, 6]);
        expect(envelopes.map(contentOf)).toEqual(['before', 'live 1', 'live 2', 'live 3', 'live 4', 'live 5']);
        expect(await changes).toMatchObject({ type: 'appended', sessionId: 'root', fromSeq: 2, toSeq: 4 });
      }),
    );

    it(
      'concurrent writers in two "processes" and a reader in a third: the reader gets 1..N exactly once, in order',
      withSchema(async (open) => {
        const [a, b, reader] = [open(), open(), open()];
        const received = firstValueFrom(reader.live('s').pipe(take(200), toArray()));
        await new Promise((resolve) => setTimeout(resolve, 100));
        const answers: Promise<unknown>[] = [];
        for (let i = 0; i < 100; i++) {
          answers.push(a.append('s', token(`a${i}`)), b.append('s', token(`b${i}`)));
          if (i % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
        }
        await Promise.all(answers);
        expect((await received).map((envelope) => envelope.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
      }),
    );

    it(
      'a reader that fell behind retention gets stream_truncated, then what is retained',
      withSchema(async (open) => {
        const writer = open({ retention: 3 });
        const reader = open({ retention: 3 });
        for (let i = 1; i <= 10; i++) await writer.append('s', token(String(i)));
        const envelopes = await firstValueFrom(reader.live('s', { afterSeq: 2 }).pipe(take(4), toArray()));
        expect(envelopes.map((envelope) => [envelope.seq, envelope.event.type])).toEqual([
          [7, 'stream_truncated'],
          [8, 'token'],
          [9, 'token'],
          [10, 'token'],
        ]);
      }),
    );

    it(
      'the listening connection comes back after it is killed and says resync',
      withSchema(async (open, schema) => {
        const name = `sprout_listen_${schema.slice(-10)}`;
        const writer = open();
        const server = open({ applicationName: name });
        const resync = firstValueFrom(server.changes$.pipe(filter((change) => change.type === 'resync')));
        const received: SessionEventEnvelope[] = [];
        const failures: unknown[] = [];
        const subscription = server
          .live('root')
          .subscribe({ next: (envelope) => received.push(envelope), error: (error) => failures.push(error) });
        await new Promise((resolve) => setTimeout(resolve, 100));
        await writer.append('root', token('before the loss'));
        await waitFor(() => received.length === 1);
        expect(await backends(name)).toBeGreaterThanOrEqual(1);
        await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
        await resync;
        await writer.append('root', token('after the loss'));
        await waitFor(() => received.length === 2);
        expect(received.map(contentOf)).toEqual(['before the loss', 'after the loss']);
        expect(failures).toEqual([]);
        subscription.unsubscribe();
      }),
    );
  });

  describe('failures', () => {
    it('a server that is not there: append, read and openRuns reject with StoreUnavailableError, quickly, and close still works', async () => {
      const log = new PostgresEventLog({
        connectionString: 'postgres://root@127.0.0.1:1/postgres',
        schema: 'never_created',
        poolConfig: { connectionTimeoutMillis: 2000 },
      });
      const started = Date.now();
      const errors = await Promise.all([
        log.append('p', token('x')).catch((error: unknown) => error),
        log.read('p', 0).catch((error: unknown) => error),
        log.openRuns().catch((error: unknown) => error),
      ]);
      expect(Date.now() - started).toBeLessThan(3000);
      for (const error of errors) {
        expect(error).toBeInstanceOf(StoreUnavailableError);
        expect((error as StoreUnavailableError).code).toBe('STORE_UNAVAILABLE');
        expect((error as Error).message).toMatch(
          /PostgreSQL at 127\.0\.0\.1:1\/postgres \(schema never_created\) is unreachable.*ECONNREFUSED/,
        );
      }
      await log.close();
      await log.close();
      await expect(log.append('p', token('x'))).rejects.toBeInstanceOf(StoreUnavailableError);
    });

    it('a connect that hangs gives up after connectionTimeoutMillis with StoreUnavailableError', async () => {
      // A non-routable address: the connect either times out or fails at once, never hangs.
      const log = new PostgresEventLog({
        connectionString: 'postgres://root@10.255.255.1:5432/postgres',
        poolConfig: { connectionTimeoutMillis: 300 },
      });
      const started = Date.now();
      await expect(log.append('p', token('x'))).rejects.toBeInstanceOf(StoreUnavailableError);
      expect(Date.now() - started).toBeLessThan(2000);
      await log.close();
    });

    it(
      'a connection killed mid-transaction: that batch rejects with StoreUnavailableError and leaves nothing; committed events stay, the pool reconnects, seq has no gap',
      withSchema(async (_open, schema) => {
        const name = `sprout_kill_${schema.slice(-10)}`;
        const errors: unknown[] = [];
        const log = new PostgresEventLog({
          connectionString: POSTGRES_URL,
          schema,
          poolConfig: { application_name: name },
          onError: (error) => errors.push(error),
        });
        const blocker = new pg.Client({ connectionString: POSTGRES_URL });
        blocker.on('error', () => undefined);
        await blocker.connect();
        try {
          for (let i = 1; i <= 5; i++) await log.append('p', token(String(i)));
          // Hold the session's seq row, so the next batch blocks inside its transaction…
          await blocker.query('BEGIN');
          await blocker.query(`SELECT * FROM "${schema}".event_seqs WHERE session_id = 'p' FOR UPDATE`);
          const batch = Array.from({ length: 20 }, (_, i) =>
            log.append('p', token(`during ${i}`)).then(
              () => 'ok',
              (error: unknown) => error,
            ),
          );
          await waitFor(async () =>
            (
              await adminQuery<{ n: string }>(
                `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
                [name],
              )
            ).some((row) => row.n !== '0'),
          );
          // …then kill every connection of this log (and only this log's).
          await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
          const outcomes = await Promise.all(batch);
          await blocker.query('COMMIT');
          expect(outcomes.every((outcome) => outcome instanceof StoreUnavailableError)).toBe(true);
          expect((outcomes[0] as Error).message).toMatch(/is unreachable \(appending 20 event\(s\)\)|terminat/);
          const next = await log.append('p', token('after'));
          expect(next.seq).toBe(6);
          const read = await log.read('p', 0);
          expect(read.envelopes.map(contentOf)).toEqual(['1', '2', '3', '4', '5', 'after']);
          expect(read.lastSeq).toBe(6);
          for (const error of errors) expect(error).toBeInstanceOf(StoreUnavailableError);
        } finally {
          await blocker.end();
          await log.close();
        }
      }),
    );

    it(
      'idle connections killed: the pool drops them (reported to onError), reconnects, and nothing is lost',
      withSchema(async (_open, schema) => {
        const name = `sprout_idle_${schema.slice(-10)}`;
        const errors: unknown[] = [];
        const log = new PostgresEventLog({
          connectionString: POSTGRES_URL,
          schema,
          poolConfig: { application_name: name },
          onError: (error) => errors.push(error),
        });
        try {
          await Promise.all(Array.from({ length: 3 }, (_, i) => log.append(`s${i}`, token('before'))));
          await adminQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [name]);
          await waitFor(() => errors.length > 0);
          expect(errors[0]).toBeInstanceOf(StoreUnavailableError);
          expect((await log.append('s0', token('after'))).seq).toBe(2);
          expect((await log.read('s0', 0)).envelopes.map(contentOf)).toEqual(['before', 'after']);
        } finally {
          await log.close();
        }
      }),
    );

    it('refuses a schema name that is not a plain lowercase identifier', () => {
      for (const schema of ['Sprout', 'a-b', 'pg_catalog', '1abc', 'x'.repeat(49), 'a"; DROP SCHEMA public; --', '']) {
        expect(() => new PostgresEventLog({ connectionString: POSTGRES_URL, schema })).toThrow(SproutValidationError);
      }
    });
  });
});

const started = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_started',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  title: 'T',
});
const completed = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_completed',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  status: 'completed',
});

async function backends(applicationName: string): Promise<number> {
  const [row] = await adminQuery<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [
    applicationName,
  ]);
  return Number(row?.n ?? 0);
}

async function waitFor(predicate: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error('condition still false after 10 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterAll(async () => {
  expect(undroppedSchemas()).toEqual([]);
  if (unavailable === undefined) expect(await existingSchemas(`sprout_test_${process.pid}_`)).toEqual([]);
});
