// The whole scheduler on PostgreSQL: `createSpawnScheduler({ store: new PostgresSessionStore(…) })`
// picks the store's event log, runs children with one announcement and one completion each on a
// contiguous parent stream, and a scheduler started later on the same schema continues `seq` and
// ends — exactly once — the run a scheduler that vanished without `stop()` left open.
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { PostgresSessionStore } from '../../../src/adapters/postgres/postgres-session-store.js';
import { createSpawnScheduler } from '../../../src/create-spawn-scheduler.js';
import { INTERRUPTED_ERROR } from '../../../src/scheduler/recover-interrupted-runs.js';
import { scriptedAgent } from '../../../src/testing/scripted-agent.js';
import { createTestClock } from '../../../src/testing/simulated-clock.js';
import { rootSession } from '../../support/harness.js';
import { POSTGRES_URL, createTestSchema, existingSchemas, postgresUnavailable, undroppedSchemas } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

type Completed = Extract<AgentEvent, { type: 'sub_session_completed' }>;
const ofType = <T extends AgentEvent['type']>(envelopes: readonly SessionEventEnvelope[], type: T) =>
  envelopes.map((envelope) => envelope.event).filter((event): event is Extract<AgentEvent, { type: T }> => event.type === type);

async function waitFor(predicate: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`${what}: still not true after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Every run on the stream: one `sub_session_started` and one `sub_session_completed`, in that order. */
function expectOneStartAndOneEndPerRun(envelopes: readonly SessionEventEnvelope[]): void {
  const byRun = new Map<string, string[]>();
  for (const { event } of envelopes) {
    if (event.type !== 'sub_session_started' && event.type !== 'sub_session_completed') continue;
    byRun.set(event.run_id, [...(byRun.get(event.run_id) ?? []), event.type]);
  }
  for (const [runId, types] of byRun) expect([runId, types]).toEqual([runId, ['sub_session_started', 'sub_session_completed']]);
}

const contiguous = (envelopes: readonly SessionEventEnvelope[]): number[] => envelopes.map((_, i) => i + 1);

describe.skipIf(unavailable !== undefined)('the spawn scheduler on PostgreSQL', () => {
  it('runs children with one start and one end each; a restart continues seq and ends the run a vanished scheduler left open, once', async () => {
    const schema = createTestSchema();
    const stores: PostgresSessionStore[] = [];
    const open = (): PostgresSessionStore => {
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      stores.push(store);
      return store;
    };
    const read = async (store: PostgresSessionStore) => store.openEventLog({ retention: 1000, onError: () => undefined }).read('root', 0);
    try {
      // 1. A scheduler runs three children to completion and stops.
      const first = open();
      await first.save(rootSession());
      const scheduler = createSpawnScheduler({
        store: first,
        agent: scriptedAgent({ script: [{ tokens: 'looking it up' }], answer: 'found it' }),
        concurrency: 2,
      });
      await scheduler.start();
      const seen: SessionEventEnvelope[] = [];
      scheduler.events('root', { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
      const spawned = await Promise.all([1, 2, 3].map((i) => scheduler.spawnChild('root', { title: `Child ${i}`, prompt: `Find ${i}` })));
      const summaries = await scheduler.waitForChildren('root', { childSessionIds: spawned.map((child) => child.childSessionId) });
      expect(summaries.map((summary) => summary.status)).toEqual(['completed', 'completed', 'completed']);
      expect(summaries.map((summary) => summary.result)).toEqual(['found it', 'found it', 'found it']);
      await scheduler.stop();
      const afterFirst = await read(first);
      expect(afterFirst.envelopes.map((envelope) => envelope.seq)).toEqual(contiguous(afterFirst.envelopes));
      expect(afterFirst.lastSeq).toBe(afterFirst.envelopes.length);
      expectOneStartAndOneEndPerRun(afterFirst.envelopes);
      expect(
        ofType(afterFirst.envelopes, 'sub_session_completed')
          .map((event) => event.run_id)
          .sort(),
      ).toEqual(spawned.map((child) => child.runId).sort());
      await waitFor(() => seen.length === afterFirst.envelopes.length, 'the subscriber saw every committed event');
      expect(seen).toEqual(afterFirst.envelopes);
      expect(await first.openEventLog({ retention: 1000, onError: () => undefined }).openRuns()).toEqual([]);
      for (const { childSessionId } of spawned) expect((await first.load(childSessionId))?.metadata.last_run_status).toBe('completed');
      await first.close();

      // 2. Another scheduler announces a run that hangs, then vanishes without stop() (its
      //    connections go away; a simulated clock that never moves keeps it from doing more).
      const second = open();
      const vanishing = createSpawnScheduler({ store: second, agent: scriptedAgent({ behavior: 'hang' }), clock: createTestClock() });
      await vanishing.start();
      const crashed = await vanishing.spawnChild('root', { title: 'Doomed', prompt: 'Hang' });
      const secondLog = second.openEventLog({ retention: 1000, onError: () => undefined });
      await waitFor(async () => (await secondLog.openRuns()).some((run) => run.runId === crashed.runId), 'the run is in the ledger');
      const [announced] = (await secondLog.read('root', afterFirst.lastSeq)).envelopes;
      expect(announced).toMatchObject({ seq: afterFirst.lastSeq + 1, event: { type: 'sub_session_started', run_id: crashed.runId } });
      await second.close();

      // 3. The next scheduler on the same schema ends that run on start(): error / interrupted.
      const third = open();
      const restarted = createSpawnScheduler({ store: third, agent: scriptedAgent({ answer: 'fine again' }) });
      const report = await restarted.start();
      expect(report).toEqual({ interrupted: [crashed.childSessionId], requeued: [], completed: [], failed: [] });
      const recovered = await read(third);
      const ends = ofType(recovered.envelopes, 'sub_session_completed').filter((event: Completed) => event.run_id === crashed.runId);
      expect(ends).toEqual([
        {
          type: 'sub_session_completed',
          parent_session_id: 'root',
          child_session_id: crashed.childSessionId,
          run_id: crashed.runId,
          status: 'error',
          error: INTERRUPTED_ERROR,
          reason: 'interrupted',
        },
      ]);
      expect(recovered.envelopes.map((envelope) => envelope.seq)).toEqual(contiguous(recovered.envelopes));
      expect(await third.openEventLog({ retention: 1000, onError: () => undefined }).openRuns()).toEqual([]);
      expect((await third.load(crashed.childSessionId))?.metadata).toMatchObject({
        last_run_status: 'error',
        last_run_error: INTERRUPTED_ERROR,
      });
      // It keeps working: a new child, and seq goes on.
      const next = await restarted.spawnChild('root', { title: 'After', prompt: 'Go' });
      const [summary] = await restarted.waitForChildren('root', { childSessionIds: [next.childSessionId] });
      expect(summary).toMatchObject({ status: 'completed', result: 'fine again' });
      await restarted.stop();
      const afterThird = await read(third);
      expect(afterThird.envelopes.map((envelope) => envelope.seq)).toEqual(contiguous(afterThird.envelopes));
      expectOneStartAndOneEndPerRun(afterThird.envelopes);
      await third.close();

      // 4. Yet another start finds nothing left to end: the run was ended exactly once.
      const fourth = open();
      const again = createSpawnScheduler({ store: fourth, agent: scriptedAgent({ answer: 'x' }) });
      expect(await again.start()).toEqual({ interrupted: [], requeued: [], completed: [], failed: [] });
      await again.stop();
      const final = await read(fourth);
      expect(final.envelopes).toEqual(afterThird.envelopes);
      expect(ofType(final.envelopes, 'sub_session_completed').filter((event) => event.run_id === crashed.runId)).toHaveLength(1);
    } finally {
      await Promise.allSettled(stores.map((store) => store.close()));
      await schema.drop();
    }
  });
});

afterAll(async () => {
  expect(undroppedSchemas()).toEqual([]);
  if (unavailable === undefined) expect(await existingSchemas(`sprout_test_${process.pid}_`)).toEqual([]);
});
