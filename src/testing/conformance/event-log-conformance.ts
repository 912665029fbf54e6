import type { AgentEvent } from '../../../machines/agent-event.events.js';
import type { EventLog } from '../../streams/event-log.js';
import type { ConformanceTestApi } from './test-api.js';

/**
 * What a conformance run needs: a fresh, empty log (with `retention` envelopes kept per session),
 * a way to dispose of it, and — for a durable log — a way to reopen the same storage.
 */
export type CreateEventLog = (options: { retention: number }) => Promise<{
  log: EventLog;
  /** Closes this log and opens a new one on the same storage (durable logs only). */
  reopen?: () => Promise<EventLog>;
  cleanup?: () => Promise<void> | void;
}>;

const token = (content: string): AgentEvent => ({ type: 'token', content });
const started = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_started',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  title: `T ${child}`,
});
const completed = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_completed',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  status: 'completed',
});

/**
 * The suite every {@link EventLog} adapter must pass: seq per session (1, 2, 3, … never repeated,
 * also across a reopen for a durable log), reads after a seq, bounded retention with the first
 * retained seq reported, and the run ledger (`openRuns`) when the adapter has one.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeEventLogConformance('MemoryEventLog', async ({ retention }) => ({ log: new MemoryEventLog({ retention }) }), vitest);
 */
export function describeEventLogConformance(name: string, create: CreateEventLog, t: ConformanceTestApi): void {
  const { describe, it, expect } = t;
  const withLog = (retention: number, body: (made: Awaited<ReturnType<CreateEventLog>>) => Promise<void> | void) => async () => {
    const made = await create({ retention });
    try {
      await body(made);
    } finally {
      await made.cleanup?.();
    }
  };

  describe(`${name} (EventLog conformance)`, () => {
    it(
      'assigns seq 1, 2, 3, … per session, independently per session',
      withLog(100, ({ log }) => {
        expect(log.append('a', token('1')).seq).toBe(1);
        expect(log.append('a', token('2')).seq).toBe(2);
        expect(log.append('b', token('1')).seq).toBe(1);
        const third = log.append('a', token('3'));
        expect(third).toEqual({ seq: 3, sessionId: 'a', event: token('3') });
      }),
    );

    it(
      'reads the envelopes after a seq, oldest first, with the last seq',
      withLog(100, ({ log }) => {
        for (let i = 1; i <= 5; i++) log.append('a', token(String(i)));
        const read = log.read('a', 2);
        expect(read.envelopes.map((e) => e.seq)).toEqual([3, 4, 5]);
        expect(read.envelopes.map((e) => e.event)).toEqual([token('3'), token('4'), token('5')]);
        expect(read.lastSeq).toBe(5);
        expect(read.firstRetainedSeq).toBe(1);
        expect(log.read('a', 5).envelopes).toEqual([]);
      }),
    );

    it(
      'an unknown session reads empty, last seq 0',
      withLog(100, ({ log }) => {
        const read = log.read('nobody', 0);
        expect(read).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
      }),
    );

    it(
      'retains the last `retention` envelopes and says where they start',
      withLog(3, ({ log }) => {
        for (let i = 1; i <= 10; i++) log.append('a', token(String(i)));
        const read = log.read('a', 0);
        expect(read.envelopes.map((e) => e.seq)).toEqual([8, 9, 10]);
        expect(read.firstRetainedSeq).toBe(8);
        expect(read.lastSeq).toBe(10);
        expect(log.append('a', token('11')).seq).toBe(11);
      }),
    );

    it(
      'retention 0 keeps nothing but still counts seq',
      withLog(0, ({ log }) => {
        log.append('a', token('1'));
        expect(log.append('a', token('2')).seq).toBe(2);
        expect(log.read('a', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 2 });
      }),
    );

    it(
      'keeps events as they were appended (wire JSON round trip)',
      withLog(10, ({ log }) => {
        const tool: AgentEvent = { type: 'tool_start', tool_call_id: 't', tool_name: 'search', arguments: { q: 'x', n: [1, 2] } };
        log.append('a', tool);
        expect(log.read('a', 0).envelopes[0]?.event).toEqual(tool);
      }),
    );

    it(
      'the run ledger opens a run with its sub_session_started and closes it with its completion',
      withLog(10, ({ log }) => {
        if (typeof log.openRuns !== 'function') return;
        log.append('p', started('p', 'c1', 'r1'));
        log.append('p', token('noise'));
        log.append('p', started('p', 'c2', 'r2'));
        expect(
          log
            .openRuns()
            .map((run) => run.runId)
            .sort(),
        ).toEqual(['r1', 'r2']);
        expect(log.openRuns().find((run) => run.runId === 'r1')).toEqual({
          runId: 'r1',
          parentSessionId: 'p',
          childSessionId: 'c1',
          title: 'T c1',
          startedSeq: 1,
        });
        log.append('p', completed('p', 'c1', 'r1'));
        expect(log.openRuns().map((run) => run.runId)).toEqual(['r2']);
      }),
    );

    it(
      'the run ledger is kept even when retention drops the events',
      withLog(1, ({ log }) => {
        if (typeof log.openRuns !== 'function') return;
        log.append('p', started('p', 'c1', 'r1'));
        for (let i = 0; i < 5; i++) log.append('p', token(String(i)));
        expect(log.openRuns().map((run) => run.runId)).toEqual(['r1']);
      }),
    );

    it(
      'a durable log continues seq and keeps events and open runs across a reopen',
      withLog(10, async (made) => {
        if (!made.reopen) return;
        made.log.append('p', started('p', 'c1', 'r1'));
        made.log.append('p', token('a'));
        const log = await made.reopen();
        expect(log.durable).toBe(true);
        expect(log.read('p', 0).envelopes.map((e) => e.seq)).toEqual([1, 2]);
        expect(log.append('p', token('b')).seq).toBe(3);
        expect(log.openRuns?.().map((run) => run.runId)).toEqual(['r1']);
      }),
    );
  });
}
