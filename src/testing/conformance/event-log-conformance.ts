import type { AgentEvent } from '../../../machines/agent-event.events.js';
import type { EventLog } from '../../api/ports.js';
import { must, reopen, seqsOf, started, token, withLog, type CreateEventLog } from './event-log-support.js';
import type { ConformanceTestApi } from './test-api.js';

export type { CreateEventLog, EventLogUnderTest } from './event-log-support.js';

const SUITE = 'EventLog conformance';

/**
 * The suite every {@link EventLog} adapter must pass, synchronous or asynchronous (every call is
 * awaited, so a log may answer with values or promises): the declared `capabilities`, seq per
 * session (1, 2, 3, … never repeated, in the order appends were called, also across a reopen for a
 * durable log), reads after a seq, bounded retention with the first retained seq reported, and the
 * optional methods — `openRuns` must exist when `capabilities.runLedger` is true, `flush` when
 * `capabilities.batched` is true (and what it wrote survives a reopen), `close` is idempotent. A
 * durable log's factory must return a `reopen` hook. The run ledger's semantics are checked by
 * `describeRunLedgerConformance`.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeEventLogConformance('MemoryEventLog', async ({ retention }) => ({ log: new MemoryEventLog({ retention }) }), vitest);
 */
export function describeEventLogConformance(name: string, create: CreateEventLog, t: ConformanceTestApi): void {
  const { describe, it, expect } = t;

  describe(`${name} (EventLog conformance)`, () => {
    describe('capabilities', () => {
      it(
        'declares durable and runLedger as booleans, batched as a boolean or not at all',
        withLog(create, 10, ({ log }) => {
          const capabilities = (log as Partial<EventLog>).capabilities;
          must(typeof capabilities === 'object' && capabilities !== null, `${SUITE}: the log has no capabilities object`);
          expect(typeof capabilities.durable).toBe('boolean');
          expect(typeof capabilities.runLedger).toBe('boolean');
          expect(capabilities.batched === undefined || typeof capabilities.batched === 'boolean').toBe(true);
        }),
      );

      it(
        'has openRuns when it declares runLedger (a fresh log has no open run)',
        withLog(create, 10, async ({ log }) => {
          if (log.capabilities.runLedger) {
            must(typeof log.openRuns === 'function', `${SUITE}: the log declares capabilities.runLedger but has no openRuns()`);
          }
          if (typeof log.openRuns === 'function') expect(await log.openRuns()).toEqual([]);
        }),
      );

      it(
        'has flush when it declares batched',
        withLog(create, 10, ({ log }) => {
          if (log.capabilities.batched === true) {
            must(typeof log.flush === 'function', `${SUITE}: the log declares capabilities.batched but has no flush()`);
          }
          expect(log.flush === undefined || typeof log.flush === 'function').toBe(true);
          expect(log.close === undefined || typeof log.close === 'function').toBe(true);
        }),
      );
    });

    describe('append', () => {
      it(
        'assigns seq 1, 2, 3, … per session, independently per session',
        withLog(create, 100, async ({ log }) => {
          expect((await log.append('a', token('1'))).seq).toBe(1);
          expect((await log.append('a', token('2'))).seq).toBe(2);
          expect((await log.append('b', token('1'))).seq).toBe(1);
          expect(await log.append('a', token('3'))).toEqual({ seq: 3, sessionId: 'a', event: token('3') });
          expect((await log.append('b', token('2'))).seq).toBe(2);
          expect((await log.read('a', 0)).lastSeq).toBe(3);
          expect((await log.read('b', 0)).lastSeq).toBe(2);
        }),
      );

      it(
        'assigns seq in the order appends were called, also when they are not awaited one by one',
        withLog(create, 100, async ({ log }) => {
          // The scheduler pipelines appends: it calls append again before the previous answer settled.
          const answers = [
            log.append('a', token('1')),
            log.append('b', token('1')),
            log.append('a', token('2')),
            log.append('a', token('3')),
          ];
          const envelopes = await Promise.all(answers.map(async (answer) => await answer));
          expect(envelopes.map((e) => [e.sessionId, e.seq])).toEqual([
            ['a', 1],
            ['b', 1],
            ['a', 2],
            ['a', 3],
          ]);
          expect((await log.read('a', 0)).envelopes.map((e) => e.event)).toEqual([token('1'), token('2'), token('3')]);
        }),
      );

      it(
        'keeps events as they were appended (wire JSON round trip)',
        withLog(create, 10, async ({ log }) => {
          const tool: AgentEvent = {
            type: 'tool_start',
            tool_call_id: 't',
            tool_name: 'search',
            arguments: { q: 'x', n: [1, 2], deep: { a: null } },
          };
          await log.append('a', tool);
          expect((await log.read('a', 0)).envelopes[0]?.event).toEqual(tool);
        }),
      );
    });

    describe('read', () => {
      it(
        'reads the envelopes after a seq, oldest first, with the last seq',
        withLog(create, 100, async ({ log }) => {
          for (let i = 1; i <= 5; i++) await log.append('a', token(String(i)));
          const read = await log.read('a', 2);
          expect(read.envelopes.map((e) => e.seq)).toEqual([3, 4, 5]);
          expect(read.envelopes.map((e) => e.event)).toEqual([token('3'), token('4'), token('5')]);
          expect(read.envelopes.map((e) => e.sessionId)).toEqual(['a', 'a', 'a']);
          expect(read.lastSeq).toBe(5);
          expect(read.firstRetainedSeq).toBe(1);
          expect(await seqsOf(log, 'a', 0)).toEqual([1, 2, 3, 4, 5]);
        }),
      );

      it(
        'reads nothing after the last seq (or beyond it), still reporting the last seq',
        withLog(create, 100, async ({ log }) => {
          for (let i = 1; i <= 3; i++) await log.append('a', token(String(i)));
          expect(await log.read('a', 3)).toEqual({ envelopes: [], firstRetainedSeq: 1, lastSeq: 3 });
          expect(await log.read('a', 99)).toEqual({ envelopes: [], firstRetainedSeq: 1, lastSeq: 3 });
        }),
      );

      it(
        'an unknown session reads empty, last seq 0',
        withLog(create, 100, async ({ log }) => {
          await log.append('a', token('1'));
          expect(await log.read('nobody', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
        }),
      );

      it(
        'sees an append at once, before any flush',
        withLog(create, 100, async ({ log }) => {
          await log.append('a', token('1'));
          expect(await seqsOf(log, 'a')).toEqual([1]);
          await log.append('a', token('2'));
          expect(await seqsOf(log, 'a', 1)).toEqual([2]);
        }),
      );
    });

    describe('retention', () => {
      it(
        'retains the last `retention` envelopes and says where they start',
        withLog(create, 3, async ({ log }) => {
          for (let i = 1; i <= 10; i++) await log.append('a', token(String(i)));
          const read = await log.read('a', 0);
          expect(read.envelopes.map((e) => e.seq)).toEqual([8, 9, 10]);
          expect(read.envelopes.map((e) => e.event)).toEqual([token('8'), token('9'), token('10')]);
          expect(read.firstRetainedSeq).toBe(8);
          expect(read.lastSeq).toBe(10);
          expect(await log.read('a', 2)).toEqual(read);
          expect(await seqsOf(log, 'a', 8)).toEqual([9, 10]);
          expect((await log.append('a', token('11'))).seq).toBe(11);
          expect(await seqsOf(log, 'a', 0)).toEqual([9, 10, 11]);
        }),
      );

      it(
        'retention applies per session',
        withLog(create, 2, async ({ log }) => {
          for (let i = 1; i <= 5; i++) await log.append('a', token(String(i)));
          await log.append('b', token('1'));
          expect(await log.read('b', 0)).toEqual({
            envelopes: [{ seq: 1, sessionId: 'b', event: token('1') }],
            firstRetainedSeq: 1,
            lastSeq: 1,
          });
          expect(await seqsOf(log, 'a')).toEqual([4, 5]);
        }),
      );

      it(
        'retention 0 keeps nothing but still counts seq',
        withLog(create, 0, async ({ log }) => {
          await log.append('a', token('1'));
          expect((await log.append('a', token('2'))).seq).toBe(2);
          expect(await log.read('a', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 2 });
        }),
      );
    });

    describe('flush', () => {
      it(
        'writes what is pending; reads see the same before and after (and with nothing pending)',
        withLog(create, 10, async ({ log }) => {
          if (log.capabilities.batched === true) must(typeof log.flush === 'function', `${SUITE}: a batched log must have flush()`);
          if (typeof log.flush !== 'function') return; // optional for a log that writes every append at once
          await log.flush();
          for (let i = 1; i <= 3; i++) await log.append('a', token(String(i)));
          const before = await log.read('a', 0);
          await log.flush();
          await log.flush();
          expect(await log.read('a', 0)).toEqual(before);
          expect((await log.append('a', token('4'))).seq).toBe(4);
        }),
      );

      it(
        'a durable batched log has what it flushed after a reopen',
        withLog(create, 10, async (made) => {
          const { log } = made;
          if (log.capabilities.batched !== true || !log.capabilities.durable) return;
          must(typeof log.flush === 'function', `${SUITE}: a batched log must have flush()`);
          const first = log.append('a', token('1')); // not awaited before the flush: the flush must write it too
          await log.append('b', token('1'));
          await log.append('a', token('2'));
          await log.flush();
          await first;
          const reopened = await reopen(made, SUITE);
          expect((await reopened.read('a', 0)).envelopes).toEqual([
            { seq: 1, sessionId: 'a', event: token('1') },
            { seq: 2, sessionId: 'a', event: token('2') },
          ]);
          expect(await seqsOf(reopened, 'b')).toEqual([1]);
        }),
      );
    });

    describe('close', () => {
      it(
        'is idempotent',
        withLog(create, 10, async ({ log }) => {
          if (typeof log.close !== 'function') return; // optional: a log with nothing to release
          await log.append('a', token('1'));
          await log.close();
          await log.close();
        }),
      );

      it(
        'a durable log flushes on close: a reopen has every event',
        withLog(create, 10, async (made) => {
          if (!made.log.capabilities.durable || typeof made.log.close !== 'function') return;
          const first = made.log.append('a', token('1')); // not awaited before the close: the close must write it too
          await made.log.append('a', token('2'));
          await made.log.close();
          await first;
          const reopened = await reopen(made, SUITE);
          expect(await seqsOf(reopened, 'a')).toEqual([1, 2]);
        }),
      );
    });

    describe('deleteSession (optional)', () => {
      it(
        'forgets the session’s events and the open runs it announced or that ran it; its seq keeps counting',
        withLog(create, 100, async ({ log }) => {
          if (typeof log.deleteSession !== 'function') return;
          await log.append('p', started('p', 'c', 'r1'));
          await log.append('p', token('x'));
          await log.append('q', started('q', 'p', 'r0'));
          await log.append('other', started('other', 'o', 'r2'));
          await log.flush?.();
          await log.deleteSession('p');
          const read = await log.read('p', 0);
          expect(read.envelopes).toEqual([]);
          expect(read.lastSeq).toBe(2);
          if (typeof log.openRuns === 'function') expect((await log.openRuns()).map((run) => run.runId)).toEqual(['r2']);
          expect((await log.read('other', 0)).envelopes.length).toBe(1);
          // An id that comes back continues its seq: a seq never names another event.
          expect((await log.append('p', token('again'))).seq).toBe(3);
        }),
      );
    });

    describe('durability', () => {
      it(
        'a durable log continues seq and keeps events across a reopen; only a durable log has a reopen hook',
        withLog(create, 10, async (made) => {
          if (!made.log.capabilities.durable) {
            must(made.reopen === undefined, `${SUITE}: the factory returned reopen() for a log that does not declare capabilities.durable`);
            return;
          }
          await made.log.append('a', token('a1'));
          await made.log.append('a', token('a2'));
          await made.log.append('b', token('b1'));
          const log = await reopen(made, SUITE);
          expect(log.capabilities.durable).toBe(true);
          expect(await log.read('a', 0)).toEqual({
            envelopes: [
              { seq: 1, sessionId: 'a', event: token('a1') },
              { seq: 2, sessionId: 'a', event: token('a2') },
            ],
            firstRetainedSeq: 1,
            lastSeq: 2,
          });
          expect((await log.append('a', token('a3'))).seq).toBe(3);
          expect((await log.append('b', token('b2'))).seq).toBe(2);
          const again = await reopen(made, SUITE);
          expect(await seqsOf(again, 'a')).toEqual([1, 2, 3]);
          expect(await seqsOf(again, 'b')).toEqual([1, 2]);
        }),
      );

      it(
        'a durable log keeps retention, firstRetainedSeq and lastSeq across a reopen',
        withLog(create, 3, async (made) => {
          if (!made.log.capabilities.durable) return;
          for (let i = 1; i <= 10; i++) await made.log.append('a', token(String(i)));
          const log = await reopen(made, SUITE);
          const read = await log.read('a', 0);
          expect(read.envelopes.map((e) => e.seq)).toEqual([8, 9, 10]);
          expect([read.firstRetainedSeq, read.lastSeq]).toEqual([8, 10]);
          expect((await log.append('a', token('11'))).seq).toBe(11);
        }),
      );

      it(
        'a durable log with retention 0 still continues seq across a reopen',
        withLog(create, 0, async (made) => {
          if (!made.log.capabilities.durable) return;
          await made.log.append('a', token('1'));
          await made.log.append('a', token('2'));
          const log = await reopen(made, SUITE);
          expect(await log.read('a', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 2 });
          expect((await log.append('a', token('3'))).seq).toBe(3);
        }),
      );
    });
  });
}
