import { describe, expect, it } from 'vitest';
import { createActor, toPromise } from 'xstate';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createJobLogic } from '../../src/scheduler/create-job-logic.js';
import { persistRun } from '../../src/core/persist-run.js';
import { RunLedger } from '../../src/scheduler/run-ledger.js';
import { RunLedgers } from '../../src/scheduler/run-ledgers.js';
import type { SchedulerDiagnostic } from '../../src/api/scheduler-diagnostic.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { SessionEventHub } from '../../src/streams/session-event-hub.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { advance, createTestClock, flushMicrotasks, runUntil } from '../../src/testing/simulated-clock.js';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';

// One regression test per Bamboo fault listed in docs/reliability.md.
describe('Bamboo faults Sprout must not have', () => {
  it('fault: a real user cancel is reported as error (status decided by substring match)', async () => {
    // The agent rejects with an error text that mentions "error" when aborted: status still cancelled.
    const h = await createHarness({
      agent: {
        execute: (_session, { signal }) =>
          new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new Error('error: request failed')))),
        calls: [],
        active: 0,
        maxActive: 0,
        lateEmitErrors: [],
      },
    });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    await h.scheduler.cancel(childSessionId);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'user' });

    // And an agent failure whose text says "cancelled" is still an error: no cancel was requested.
    const h2 = await createHarness({ agent: { script: [{ fail: 'operation cancelled by upstream' }] } });
    await h2.scheduler.spawnChild('root', { title: 'B', prompt: 'b' });
    await h2.until(() => h2.completions().length === 1);
    expect(h2.completions()[0]).toMatchObject({ status: 'error', error: 'operation cancelled by upstream' });
  });

  it('fault: a second run is dropped silently after overwriting metadata', async () => {
    // Through the scheduler: the second enqueue gets the running run back, nothing is published.
    const h = await createHarness({ seed: [rootSession(), childSession('c')], agent: { script: [{ hang: true }] } });
    const first = await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c', model: 'm' });
    await h.settle();
    const second = await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c', model: 'm' });
    expect(second).toEqual({ runId: first.runId, deduplicated: true });
    expect(typesFor(h.rootEvents, 'c').filter((t) => t === 'sub_session_started')).toHaveLength(1);

    // A racing second job actor (what de-duplication could not catch) ends `duplicate`:
    // no completion, no metadata change, and a diagnostic says so.
    const clock = createTestClock();
    const store = new MemorySessionStore();
    await store.save(rootSession());
    await store.save(childSession('c'));
    const hub = new SessionEventHub(new MemoryEventLog(), () => {});
    const published: AgentEvent[] = [];
    hub.events$('root').subscribe(({ event }) => published.push(event));
    const diagnostics: SchedulerDiagnostic[] = [];
    const logic = createJobLogic({
      store,
      agent: scriptedAgent({ clock, script: [{ hang: true }] }),
      tools: undefined,
      hub,
      clock,
      ledgers: new RunLedgers({ now: () => clock.now() }),
      report: (d) => diagnostics.push(d),
    });
    const job = { parentSessionId: 'root', childSessionId: 'c', model: 'm' };
    const run1 = createActor(logic, { clock, input: { job, runId: 'run-1', limits: { heartbeatIntervalMs: 5000 } } }).start();
    await flushMicrotasks();
    expect(run1.getSnapshot().matches('running')).toBe(true);
    const metadataBefore = (await store.load('c'))?.metadata;
    const run2 = createActor(logic, { clock, input: { job, runId: 'run-2', limits: { heartbeatIntervalMs: 5000 } } }).start();
    const output = await toPromise(run2);
    expect(output.status).toBe('duplicate');
    expect(run2.getSnapshot().value).toBe('duplicate');
    expect((await store.load('c'))?.metadata).toEqual(metadataBefore);
    expect(published.filter((e) => e.type === 'sub_session_completed')).toHaveLength(0);
    expect(diagnostics).toContainEqual({ kind: 'duplicate_run', runId: 'run-2', childSessionId: 'c' });
    run1.stop();
  });

  it('fault: stale runs overwrite newer ones', async () => {
    const clock = createTestClock();
    const ledger = new RunLedger({ now: () => clock.now() });
    ledger.queue({ runId: 'old', childSessionId: 'c', parentSessionId: 'root', announced: true });
    expect(ledger.reserve('c', 'old', 'root')).toBe(true);
    ledger.end({ childSessionId: 'c', runId: 'old', status: 'error' });
    ledger.queue({ runId: 'new', childSessionId: 'c', parentSessionId: 'root', announced: true });
    expect(ledger.reserve('c', 'new', 'root')).toBe(true);
    // The stale run reports again: the ledger ignores it.
    ledger.end({ childSessionId: 'c', runId: 'old', status: 'completed' });
    expect(ledger.runOf('c')).toMatchObject({ runId: 'new', status: 'running' });

    // A stale save keeps the newer run's metadata and everybody's messages.
    const store = new MemorySessionStore();
    await store.save(childSession('c'));
    const staleCopy = (await store.load('c'))!;
    const newer = (await store.load('c'))!;
    newer.metadata = { last_run_status: 'running', last_run_id: 'new' };
    newer.messages.push({ id: 'n1', role: 'assistant', content: 'from the new run', created_at: 'x' });
    await store.save(newer);
    staleCopy.messages.push({ id: 's1', role: 'assistant', content: 'from the stale run', created_at: 'x' });
    await persistRun(store, { session: staleCopy, runId: 'old', status: 'completed' }, () => ledger.isCurrent('c', 'old'), clock);
    const stored = (await store.load('c'))!;
    expect(stored.metadata).toMatchObject({ last_run_status: 'running', last_run_id: 'new' });
    expect(stored.messages.map((m) => m.id)).toEqual(['c-s', 'c-u', 'n1', 's1']);
  });

  it('fault: final child events can be lost or arrive after the completion', async () => {
    const burst = Array.from({ length: 500 }, (_, i) => ({ emit: { type: 'token' as const, content: `t${i}` } }));
    const h = await createHarness({ agent: { script: [{ wait: 10 }, ...burst] } });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    const forwarded = h.rootEvents.filter((e) => e.event.type === 'sub_session_event' && e.event.event.type === 'token');
    expect(
      forwarded
        .slice(0, 500)
        .map((e) => (e.event.type === 'sub_session_event' && e.event.event.type === 'token' ? e.event.event.content : '')),
    ).toEqual(burst.map((s) => (s.emit.type === 'token' ? s.emit.content : '')));
    expect(h.rootEvents.at(-1)?.event.type).toBe('sub_session_completed');
  });

  it('fault: a crash in a run leaves it running forever with heartbeats ticking', async () => {
    // The job actor itself crashes (its clock throws once while a heartbeat is built): the
    // scheduler still ends the run.
    const clock = createTestClock();
    let failNext = false;
    const now = clock.now.bind(clock);
    clock.now = () => {
      if (failNext && new Error().stack?.includes('publishHeartbeat')) {
        failNext = false;
        throw new Error('clock broke');
      }
      return now();
    };
    const h = await createHarness({
      agent: scriptedAgent({ clock, script: [{ hang: true }] }),
      scheduler: { clock, heartbeatIntervalMs: 1000 },
    });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    failNext = true;
    await advance(clock, 1000);
    await runUntil(() => h.completions().length === 1, { clock, maxMs: 600_000, stepMs: 1000 });
    expect(h.completions()[0]).toMatchObject({ status: 'error', error: 'spawn job crashed: clock broke' });
    expect(h.diagnostics).toContainEqual(expect.objectContaining({ kind: 'job_crashed', childSessionId }));
    const countBefore = h.rootEvents.length;
    await advance(clock, 10_000);
    expect(h.rootEvents.length).toBe(countBefore); // no heartbeat after the end
    expect(h.agent.calls[0]?.signal.aborted).toBe(true);
    expect((await h.scheduler.getChild(childSessionId))?.status).toBe('error');
    // The scheduler carries on with other runs.
    await h.scheduler.spawnChild('root', { title: 'B', prompt: 'b' });
    await h.settle();
    expect(h.agent.calls).toHaveLength(2);
  });

  it('fault: events are dropped when nobody listens', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'nobody hears this' }] } });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    const late: SessionEventEnvelope[] = [];
    h.scheduler.events('root', { afterSeq: 0 }).subscribe((e) => late.push(e));
    expect(late).toEqual(h.rootEvents);
    expect(typesFor(late, childSessionId)[0]).toBe('sub_session_started');
  });

  it('fault: no concurrency limit', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }] }, scheduler: { concurrency: 3 } });
    for (let i = 0; i < 10; i++) await h.scheduler.spawnChild('root', { title: `c${i}`, prompt: 'x' });
    await h.until(() => h.completions().length === 10);
    expect(h.agent.maxActive).toBe(3);
  });

  it('fault: no timeouts', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] }, scheduler: { maxRunMs: 1000 } });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'error', reason: 'timeout' });
  });

  it('fault: no recovery after restart', async () => {
    const store = new MemorySessionStore();
    await store.save(rootSession());
    await store.save(childSession('was-running', 'root', { metadata: { last_run_status: 'running', last_run_id: 'r-old' } }));
    const h = await createHarness({ store, seed: [], start: false });
    const report = await h.scheduler.start();
    expect(report.interrupted).toEqual(['was-running']);
    expect(h.completions()).toEqual([
      expect.objectContaining({ child_session_id: 'was-running', run_id: 'r-old', status: 'error', reason: 'interrupted' }),
    ]);
    expect((await store.load('was-running'))?.metadata.last_run_status).toBe('error');
  });

  it("fault: the child's answer never reaches the parent", async () => {
    const long = 'x'.repeat(5000);
    const h = await createHarness({ agent: { script: [], answer: long } });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.result).toBe('x'.repeat(4000));
    expect((await h.scheduler.getChild(childSessionId))?.result).toHaveLength(4000);
    expect((await h.scheduler.waitForChildren('root', { childSessionIds: [childSessionId] }))[0]?.result).toHaveLength(4000);
  });
});
