import type { EventLog, OpenRun } from '../../api/ports.js';
import { completed, must, reopen, started, token, withLog, type CreateEventLog } from './event-log-support.js';
import type { ConformanceTestApi } from './test-api.js';

const SUITE = 'Run-ledger conformance';

/** The log's open runs, failing clearly when it has no run ledger. */
async function openRunsOf(log: EventLog): Promise<OpenRun[]> {
  must(
    log.capabilities.runLedger,
    `${SUITE}: the log does not declare capabilities.runLedger; run this suite only on a log that keeps a run ledger`,
  );
  must(typeof log.openRuns === 'function', `${SUITE}: the log declares capabilities.runLedger but has no openRuns()`);
  return log.openRuns();
}

const idsOf = (runs: OpenRun[]): string[] => runs.map((run) => run.runId);

/**
 * The suite for an {@link EventLog} that keeps a run ledger (`capabilities.runLedger: true`,
 * `openRuns()`), which crash recovery is driven by: a `sub_session_started` appended to its
 * parent's stream opens a run (with its ids, title and seq), that run's `sub_session_completed`
 * closes it, open runs come oldest first, the ledger outlives the retained events, and — for a
 * durable log, through the factory's `reopen` hook — it survives a reopen. Every call is awaited,
 * so synchronous and asynchronous logs both fit. A log without a run ledger fails every test
 * (it is a mistake to run this suite on it), never skips.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeRunLedgerConformance('MemoryEventLog', async ({ retention }) => ({ log: new MemoryEventLog({ retention }) }), vitest);
 */
export function describeRunLedgerConformance(name: string, create: CreateEventLog, t: ConformanceTestApi): void {
  const { describe, it, expect } = t;

  describe(`${name} (run-ledger conformance)`, () => {
    it(
      'a fresh log has no open run',
      withLog(create, 10, async ({ log }) => {
        expect(await openRunsOf(log)).toEqual([]);
      }),
    );

    it(
      'a sub_session_started on its parent stream opens a run with its ids, title and seq',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', token('before'));
        await log.append('p', started('p', 'c1', 'r1'));
        expect(await openRunsOf(log)).toEqual([{ runId: 'r1', parentSessionId: 'p', childSessionId: 'c1', title: 'T c1', startedSeq: 2 }]);
      }),
    );

    it(
      'a run announced without a title has none',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1', null));
        const [run] = await openRunsOf(log);
        expect(run).toEqual({ runId: 'r1', parentSessionId: 'p', childSessionId: 'c1', startedSeq: 1 });
        expect(run?.title).toBeUndefined();
      }),
    );

    it(
      'its sub_session_completed closes the run; the others stay open',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('p', token('noise'));
        await log.append('p', started('p', 'c2', 'r2'));
        expect(idsOf(await openRunsOf(log))).toEqual(['r1', 'r2']);
        await log.append('p', completed('p', 'c1', 'r1'));
        expect(await openRunsOf(log)).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c2', title: 'T c2', startedSeq: 3 }]);
        await log.append('p', completed('p', 'c2', 'r2'));
        expect(await openRunsOf(log)).toEqual([]);
      }),
    );

    it(
      'a completion of a run it never saw opened changes nothing',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('p', completed('p', 'c9', 'r9'));
        expect(idsOf(await openRunsOf(log))).toEqual(['r1']);
      }),
    );

    it(
      'a child run again gets a new run that opens and closes on its own',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('p', completed('p', 'c1', 'r1'));
        await log.append('p', started('p', 'c1', 'r2'));
        expect(await openRunsOf(log)).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c1', title: 'T c1', startedSeq: 3 }]);
      }),
    );

    it(
      'a repeated announcement of the same run keeps the first (one open run, its first seq)',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('p', started('p', 'c1', 'r1'));
        expect(await openRunsOf(log)).toEqual([{ runId: 'r1', parentSessionId: 'p', childSessionId: 'c1', title: 'T c1', startedSeq: 1 }]);
      }),
    );

    it(
      'lists open runs oldest first',
      withLog(create, 10, async ({ log }) => {
        for (const run of ['r3', 'r1', 'r2']) await log.append('p', started('p', `c-${run}`, run));
        expect(idsOf(await openRunsOf(log))).toEqual(['r3', 'r1', 'r2']);
        expect((await openRunsOf(log)).map((run) => run.startedSeq)).toEqual([1, 2, 3]);
      }),
    );

    it(
      'keeps the runs of every parent, each with its own parent and seq',
      withLog(create, 10, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('q', token('q1'));
        await log.append('q', started('q', 'c2', 'r2'));
        await log.append('p', started('p', 'c3', 'r3'));
        const runs = await openRunsOf(log);
        expect(idsOf(runs).sort()).toEqual(['r1', 'r2', 'r3']);
        expect(runs.find((run) => run.runId === 'r2')).toEqual({
          runId: 'r2',
          parentSessionId: 'q',
          childSessionId: 'c2',
          title: 'T c2',
          startedSeq: 2,
        });
        expect(idsOf(runs.filter((run) => run.parentSessionId === 'p'))).toEqual(['r1', 'r3']);
        await log.append('q', completed('q', 'c2', 'r2'));
        expect(idsOf(await openRunsOf(log)).sort()).toEqual(['r1', 'r3']);
      }),
    );

    it(
      'keeps the ledger when retention drops the events',
      withLog(create, 1, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        for (let i = 0; i < 5; i++) await log.append('p', token(String(i)));
        expect(idsOf(await openRunsOf(log))).toEqual(['r1']);
      }),
    );

    it(
      'keeps the ledger with retention 0 (no event retained at all)',
      withLog(create, 0, async ({ log }) => {
        await log.append('p', started('p', 'c1', 'r1'));
        await log.append('p', started('p', 'c2', 'r2'));
        await log.append('p', completed('p', 'c1', 'r1'));
        expect(await openRunsOf(log)).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c2', title: 'T c2', startedSeq: 2 }]);
      }),
    );

    it(
      'a durable log keeps open runs across a reopen, and closes them after it',
      withLog(create, 10, async (made) => {
        await openRunsOf(made.log);
        if (!made.log.capabilities.durable) {
          must(made.reopen === undefined, `${SUITE}: the factory returned reopen() for a log that does not declare capabilities.durable`);
          return;
        }
        await made.log.append('p', started('p', 'c1', 'r1'));
        await made.log.append('p', token('a'));
        await made.log.append('p', started('p', 'c2', 'r2'));
        await made.log.append('p', completed('p', 'c1', 'r1'));
        const log = await reopen(made, SUITE);
        expect(await openRunsOf(log)).toEqual([{ runId: 'r2', parentSessionId: 'p', childSessionId: 'c2', title: 'T c2', startedSeq: 3 }]);
        await log.append('p', completed('p', 'c2', 'r2'));
        await log.append('p', started('p', 'c3', 'r3'));
        const again = await reopen(made, SUITE);
        expect(await openRunsOf(again)).toEqual([
          { runId: 'r3', parentSessionId: 'p', childSessionId: 'c3', title: 'T c3', startedSeq: 6 },
        ]);
      }),
    );
  });
}
