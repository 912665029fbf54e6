import { describe, expect, it } from 'vitest';
import { createActor, createMachine, sendTo, type AnyActorRef } from 'xstate';
import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { SpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { createTraceRecorder } from '../../src/testing/trace-recorder.js';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';
import { completionsIn, jobFor } from '../support/batch-b.js';

type AppEvent = { type: 'app.spawn'; requestId: string; runId: string; job: SpawnJob } | { type: 'app.cancel'; childSessionId: string };

/** A bigger application machine that invokes the provided scheduler machine as `spawner`. */
function appMachine(scheduler: SpawnScheduler) {
  return createMachine({
    types: { events: {} as AppEvent },
    id: 'app',
    invoke: { id: 'spawner', src: scheduler.logic, input: scheduler.input },
    on: {
      'app.spawn': {
        actions: sendTo('spawner', ({ event }) => ({
          type: 'scheduler.enqueue' as const,
          requestId: event.requestId,
          runId: event.runId,
          job: event.job,
        })),
      },
      'app.cancel': {
        actions: sendTo('spawner', ({ event }) => ({
          type: 'scheduler.cancel' as const,
          childSessionIds: [event.childSessionId],
          reason: 'parent' as const,
        })),
      },
    },
  });
}

const spawnerOf = (app: AnyActorRef): AnyActorRef => (app.getSnapshot() as { children: Record<string, AnyActorRef> }).children.spawner!;
const childrenOf = (ref: AnyActorRef): Record<string, AnyActorRef> =>
  (ref.getSnapshot() as { children: Record<string, AnyActorRef> }).children;

describe('embedding the scheduler machine in a bigger XState system', () => {
  it('runs a child enqueued by the parent machine, with its events on scheduler.events()', async () => {
    const trace = createTraceRecorder();
    const h = await createHarness({
      start: false,
      agent: { script: [{ tokens: 'from the embedded run' }, { wait: 7000 }], answer: 'embedded answer' },
      seed: [rootSession(), childSession('c1')],
    });
    const app = createActor(appMachine(h.scheduler), { id: 'app', clock: h.clock, inspect: trace.inspect }).start();
    const spawner = spawnerOf(app);
    expect(spawner.getSnapshot()).toMatchObject({ status: 'active', value: 'accepting' });

    app.send({ type: 'app.spawn', requestId: 'r1', runId: 'run-1', job: jobFor('c1') });
    expect(h.rootEvents[0]?.event).toEqual({
      type: 'sub_session_started',
      parent_session_id: 'root',
      child_session_id: 'c1',
      run_id: 'run-1',
    });
    await h.settle();

    // The job actor is a child of the embedded scheduler, in the app's system.
    const job = childrenOf(spawner)['job-0'];
    expect(job).toBeDefined();
    expect(job?.system).toBe(app.system);
    expect(h.agent.active).toBe(1);

    await h.until(() => h.completions().length === 1, 'embedded run completed');
    expect(h.completions()[0]).toMatchObject({ run_id: 'run-1', child_session_id: 'c1', status: 'completed', result: 'embedded answer' });
    const types = typesFor(h.rootEvents, 'c1');
    expect(types[0]).toBe('sub_session_started');
    expect(types.at(-1)).toBe('sub_session_completed');
    // Heartbeats ran on the app's (simulated) clock: at 0 and 5 s of the 7 s run.
    expect(types.filter((t) => t === 'sub_session_heartbeat')).toHaveLength(2);
    expect((await h.store.load('c1'))?.metadata).toMatchObject({ last_run_status: 'completed', last_run_id: 'run-1' });

    // One inspector saw the whole system: app → spawner → job-0 (one actor per run).
    const ids = trace.actorIds();
    expect(ids).toEqual(expect.arrayContaining(['app', 'spawner', 'job-0']));
    expect(trace.events.every((entry) => entry.rootId === app.sessionId)).toBe(true);
    expect(trace.stateValuesOf('job-0')).toEqual(
      expect.arrayContaining(['loading', 'reserving', 'markingRunning', 'finalizing', 'completed']),
    );
    expect(trace.entriesOf('spawner', '@xstate.event').map((e) => [e.eventType, e.sourceId])).toEqual(
      expect.arrayContaining([
        ['scheduler.enqueue', 'app'],
        ['xstate.done.actor.job-0', 'job-0'],
      ]),
    );
    expect(childrenOf(spawner)).toEqual({});
    expect(app.getSnapshot().status).toBe('active');
  });

  it('applies the limits of scheduler.input to the embedded scheduler', async () => {
    const h = await createHarness({
      start: false,
      agent: { script: [{ wait: 1000 }] },
      scheduler: { concurrency: 2 },
      seed: [rootSession(), childSession('c1'), childSession('c2'), childSession('c3')],
    });
    expect(h.scheduler.input).toMatchObject({ concurrency: 2 });
    const app = createActor(appMachine(h.scheduler), { clock: h.clock }).start();
    for (const id of ['c1', 'c2', 'c3']) app.send({ type: 'app.spawn', requestId: `r-${id}`, runId: `run-${id}`, job: jobFor(id) });
    await h.settle();
    expect(h.agent.active).toBe(2);
    await h.until(() => h.completions().length === 3);
    expect(h.agent.maxActive).toBe(2);
    expect(h.completions().map((c) => c.run_id)).toEqual(['run-c1', 'run-c2', 'run-c3']);
  });

  it('the parent machine can cancel an embedded run', async () => {
    const h = await createHarness({ start: false, agent: { script: [{ hang: true }] }, seed: [rootSession(), childSession('c1')] });
    const app = createActor(appMachine(h.scheduler), { clock: h.clock }).start();
    app.send({ type: 'app.spawn', requestId: 'r1', runId: 'run-1', job: jobFor('c1') });
    await h.settle();
    expect(h.agent.active).toBe(1);
    app.send({ type: 'app.cancel', childSessionId: 'c1' });
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ run_id: 'run-1', status: 'cancelled', reason: 'parent' });
    expect(h.agent.calls[0]?.signal.aborted).toBe(true);
    expect((await h.store.load('c1'))?.metadata.last_run_status).toBe('cancelled');
  });

  it('the facade reads the embedded runs from their run ledger', async () => {
    const h = await createHarness({
      start: false,
      agent: { script: [{ wait: 1000 }], answer: 'A' },
      seed: [rootSession(), childSession('c1')],
    });
    const app = createActor(appMachine(h.scheduler), { clock: h.clock }).start();
    app.send({ type: 'app.spawn', requestId: 'r1', runId: 'run-1', job: jobFor('c1') });
    await h.settle();
    expect(await h.scheduler.getChild('c1')).toMatchObject({ runId: 'run-1', status: 'running' });
    const waiting = h.scheduler.waitForChildren('root');
    await h.advance(1000);
    expect(await waiting).toEqual([{ childSessionId: 'c1', runId: 'run-1', status: 'completed', result: 'A' }]);
    expect(completionsIn(h.rootEvents)).toHaveLength(1);
  });

  it('two embedded copies of scheduler.logic carry their own state: limits and dedupe are per copy', async () => {
    const h = await createHarness({
      start: false,
      agent: { script: [{ wait: 1000 }], answer: 'A' },
      seed: [rootSession(), childSession('c1'), childSession('c2')],
      scheduler: { concurrency: 1 },
    });
    const first = createActor(appMachine(h.scheduler), { clock: h.clock }).start();
    const second = createActor(appMachine(h.scheduler), { clock: h.clock }).start();
    first.send({ type: 'app.spawn', requestId: 'r1', runId: 'run-1', job: jobFor('c1') });
    // Concurrency 1 holds per copy: the second copy starts its own run at once.
    // (An embedder picks its run ids: they may repeat across copies.)
    second.send({ type: 'app.spawn', requestId: 'r1', runId: 'run-1', job: jobFor('c2') });
    await h.settle();
    expect(h.agent.active).toBe(2);
    expect(Object.keys(childrenOf(spawnerOf(first)))).toEqual(['job-0']);
    expect(Object.keys(childrenOf(spawnerOf(second)))).toEqual(['job-0']);
    // The facade sees the runs of both copies.
    expect(await h.scheduler.getChild('c1')).toMatchObject({ runId: 'run-1', status: 'running' });
    expect(await h.scheduler.getChild('c2')).toMatchObject({ runId: 'run-1', status: 'running' });
    await h.advance(1000);
    // Each copy claims its own run's completion: neither suppresses the other's.
    await h.until(() => h.completions().length === 2);
    const ended = h.completions().map((c) => c.child_session_id);
    expect(ended.sort()).toEqual(['c1', 'c2']);
  });
});
