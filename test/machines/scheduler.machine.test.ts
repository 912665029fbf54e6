import { describe, expect, it } from 'vitest';
import { initialTransition, transition, type AnyActorRef, type SnapshotFrom } from 'xstate';
import { getShortestPaths } from 'xstate/graph';
import type { SchedulerEvent } from '../../machines/scheduler.events.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import {
  cancelEvent,
  doneEvent,
  enqueueEvent,
  errorEvent,
  fork,
  forkingSchedulerMachine,
  request,
  schedulerInput,
  view,
} from './scheduler.fixtures.js';

type SchedulerSnapshot = SnapshotFrom<typeof schedulerMachine>;
interface SeenAction {
  type: string;
  params?: unknown;
}

function start(overrides: Parameters<typeof schedulerInput>[0] = {}): SchedulerSnapshot {
  const [snapshot, actions] = initialTransition(schedulerMachine, schedulerInput(overrides));
  expect(actions).toEqual([]);
  return snapshot;
}

/**
 * One transition from a fork of `snapshot`: the scheduler updates its context in place (issue 13),
 * and several tests below branch one snapshot into two futures, so each step gets its own copy.
 */
function send(snapshot: SchedulerSnapshot, event: SchedulerEvent): { snapshot: SchedulerSnapshot; actions: SeenAction[] } {
  const [next, actions] = transition(schedulerMachine, fork(snapshot), event);
  return { snapshot: next, actions };
}

function sendAll(snapshot: SchedulerSnapshot, events: SchedulerEvent[]): { snapshot: SchedulerSnapshot; actions: SeenAction[] } {
  let current = { snapshot, actions: [] as SeenAction[] };
  for (const event of events) current = send(current.snapshot, event);
  return current;
}

const types = (actions: readonly SeenAction[]): string[] => actions.map((action) => action.type);
const paramsOf = (actions: readonly SeenAction[], type: string): unknown[] =>
  actions.filter((action) => action.type === type).map((action) => action.params);

describe('scheduler machine', () => {
  it('starts accepting with an empty context', () => {
    const snapshot = start();
    expect(snapshot.value).toBe('accepting');
    expect(view(snapshot.context)).toMatchObject({ queue: [], waiting: [], active: {}, running: 0, slotCount: 0, concurrency: 2 });
  });

  it('enqueue: publishStarted, then resolveEnqueue, then spawns the job actor', () => {
    const { snapshot, actions } = send(start(), enqueueEvent('a'));
    expect(types(actions)).toEqual(['publishStarted', 'resolveEnqueue', 'xstate.spawnChild']);
    expect(actions[0]?.params).toEqual({ run: { runId: 'run-a', job: request('a').job } });
    expect(actions[1]?.params).toEqual({ requestId: 'req-a', runId: 'run-a', deduplicated: false });
    expect(actions[2]?.params).toMatchObject({
      id: 'job-0',
      src: 'spawnJob',
      input: { job: request('a').job, runId: 'run-a', limits: { heartbeatIntervalMs: 1000 } },
    });
    expect(Object.keys(snapshot.children)).toEqual(['job-0']);
    expect(snapshot.context.running).toBe(1);
  });

  it('a duplicate enqueue only resolves with the existing run', () => {
    const first = send(start(), enqueueEvent('a'));
    const again = send(first.snapshot, { ...enqueueEvent('a'), requestId: 'req-a-2', runId: 'run-a-2' });
    expect(types(again.actions)).toEqual(['resolveEnqueue']);
    expect(again.actions[0]?.params).toEqual({ requestId: 'req-a-2', runId: 'run-a', deduplicated: true });
  });

  it('beyond the concurrency, enqueue queues without spawning; a full queue makes the request wait', () => {
    const full = sendAll(start({ concurrency: 1, queueCapacity: 1 }), [enqueueEvent('a'), enqueueEvent('b')]);
    expect(types(full.actions)).toEqual(['publishStarted', 'resolveEnqueue']);
    const waitingStep = send(full.snapshot, enqueueEvent('c'));
    // Only recorded (in the run ledger): no announcement and no answer until the queue has room.
    expect(types(waitingStep.actions)).toEqual(['recordAccepted']);
    expect(waitingStep.snapshot.context.waiting.map((run) => run.runId)).toEqual(['run-c']);
    // An inspector (JSON) sees the queued and waiting runs as arrays, as before.
    expect(view(waitingStep.snapshot.context)).toMatchObject({
      queue: [{ runId: 'run-b' }],
      waiting: [{ runId: 'run-c', requestId: 'req-c' }],
      running: 1,
    });
  });

  it('a job done event: jobEnded with its output, stopChild of the old actor, next run spawned into the recycled slot', () => {
    const busy = sendAll(start({ concurrency: 1 }), [enqueueEvent('a'), enqueueEvent('b')]);
    const oldRef = busy.snapshot.children['job-0'] as AnyActorRef | undefined;
    expect(oldRef).toBeDefined();
    const done = doneEvent('job-0', 'a');
    const step = send(busy.snapshot, done);
    expect(step.snapshot.value).toBe('accepting');
    expect(types(step.actions)).toEqual(['jobEnded', 'xstate.stopChild', 'xstate.spawnChild']);
    expect(step.actions[0]?.params).toEqual({ output: done.output, runId: 'run-a', slot: 'job-0' });
    expect(step.actions[1]?.params).toBe(oldRef);
    expect(step.actions[2]?.params).toMatchObject({ id: 'job-0', input: { runId: 'run-b' } });
    const newRef = step.snapshot.children['job-0'];
    expect(newRef).toBeDefined();
    expect(newRef).not.toBe(oldRef);
    expect(step.snapshot.context.activeByChild).toEqual({ b: 'job-0' });
  });

  it('a done event for an unknown actor changes nothing', () => {
    const busy = send(start(), enqueueEvent('a'));
    const step = send(busy.snapshot, doneEvent('job-7', 'zzz'));
    expect(step.actions).toEqual([]);
    expect(view(step.snapshot.context)).toEqual(view(busy.snapshot.context));
    expect(step.snapshot.value).toBe('accepting');
  });

  it('an error event (crashed job): jobCrashed, then jobEnded without output, then stopChild', () => {
    const busy = send(start(), enqueueEvent('a'));
    const error = new Error('job crashed');
    const step = send(busy.snapshot, errorEvent('job-0', error));
    expect(types(step.actions)).toEqual(['jobCrashed', 'jobEnded', 'xstate.stopChild']);
    expect(step.actions[0]?.params).toEqual({ runId: 'run-a', parentSessionId: 'p1', childSessionId: 'a', error });
    expect(step.actions[1]?.params).toEqual({ output: undefined, runId: 'run-a', slot: 'job-0' });
    expect(step.snapshot.context.running).toBe(0);
  });

  it('cancel: a running job gets job.cancel via sendTo; a queued one is spawned cancelled', () => {
    const busy = sendAll(start({ concurrency: 1 }), [enqueueEvent('a'), enqueueEvent('b')]);
    const step = send(busy.snapshot, cancelEvent(['a', 'b'], 'parent'));
    expect(types(step.actions)).toEqual(['xstate.spawnChild', 'xstate.sendTo']);
    expect(step.actions[0]?.params).toMatchObject({ id: 'job-1', input: { runId: 'run-b', cancelRequest: { reason: 'parent' } } });
    expect(step.actions[1]?.params).toMatchObject({ targetId: 'job-0', event: { type: 'job.cancel', reason: 'parent' } });
  });

  it('stop drain → stopping; running jobs keep running; enqueue is rejected; the last job end → stopped (done)', () => {
    const busy = sendAll(start({ concurrency: 1 }), [enqueueEvent('a'), enqueueEvent('b')]);
    const stopping = send(busy.snapshot, { type: 'scheduler.stop', mode: 'drain' });
    expect(stopping.snapshot.value).toBe('stopping');
    expect(stopping.snapshot.context.stopMode).toBe('drain');
    // b was queued: spawned cancelled with reason shutdown; a is not cancelled.
    expect(types(stopping.actions)).toEqual(['xstate.spawnChild']);
    expect(stopping.actions[0]?.params).toMatchObject({ id: 'job-1', input: { runId: 'run-b', cancelRequest: { reason: 'shutdown' } } });

    const rejected = send(stopping.snapshot, enqueueEvent('c'));
    expect(rejected.snapshot.value).toBe('stopping');
    expect(types(rejected.actions)).toEqual(['rejectEnqueue']);
    expect(rejected.actions[0]?.params).toEqual({ requestId: 'req-c' });

    const oneLeft = send(rejected.snapshot, doneEvent('job-1', 'b', 'p1', 'cancelled'));
    expect(oneLeft.snapshot.value).toBe('stopping');
    expect(types(oneLeft.actions)).toEqual(['jobEnded', 'xstate.stopChild']);

    const stopped = send(oneLeft.snapshot, doneEvent('job-0', 'a'));
    expect(stopped.snapshot.value).toBe('stopped');
    expect(stopped.snapshot.status).toBe('done');
    expect(types(stopped.actions)).toEqual(['jobEnded', 'xstate.stopChild']);
  });

  it('stop with nothing in flight goes straight to stopped', () => {
    const step = send(start(), { type: 'scheduler.stop', mode: 'drain' });
    expect(step.snapshot.value).toBe('stopped');
    expect(step.snapshot.status).toBe('done');
  });

  it('stop cancel sends job.cancel (shutdown) to running jobs; a second stop escalates drain → cancel', () => {
    const busy = sendAll(start(), [enqueueEvent('a'), enqueueEvent('b')]);
    const cancelStep = send(busy.snapshot, { type: 'scheduler.stop', mode: 'cancel' });
    expect(cancelStep.snapshot.value).toBe('stopping');
    expect(paramsOf(cancelStep.actions, 'xstate.sendTo')).toEqual([
      expect.objectContaining({ targetId: 'job-0', event: { type: 'job.cancel', reason: 'shutdown' } }),
      expect.objectContaining({ targetId: 'job-1', event: { type: 'job.cancel', reason: 'shutdown' } }),
    ]);

    const drained = send(busy.snapshot, { type: 'scheduler.stop', mode: 'drain' });
    expect(paramsOf(drained.actions, 'xstate.sendTo')).toEqual([]);
    const againDrain = send(drained.snapshot, { type: 'scheduler.stop', mode: 'drain' });
    expect(againDrain.actions).toEqual([]);
    const escalated = send(drained.snapshot, { type: 'scheduler.stop', mode: 'cancel' });
    expect(escalated.snapshot.context.stopMode).toBe('cancel');
    expect(paramsOf(escalated.actions, 'xstate.sendTo')).toHaveLength(2);
  });

  it('a job crash while stopping still reaches stopped', () => {
    const busy = send(start(), enqueueEvent('a'));
    const stopped = sendAll(busy.snapshot, [{ type: 'scheduler.stop', mode: 'drain' }, errorEvent('job-0', 'boom')]);
    expect(stopped.snapshot.value).toBe('stopped');
  });

  it('a job end while accepting returns to accepting (never rests in check)', () => {
    const busy = send(start(), enqueueEvent('a'));
    const step = send(busy.snapshot, doneEvent('job-0', 'a'));
    expect(step.snapshot.value).toBe('accepting');
  });
});

describe('scheduler machine: lanes (job actors beyond laneSize live in lane actors)', () => {
  // laneSize 2: job-0 and job-1 are the scheduler's children; job-2, job-3 are in lane-0, job-4 … in lane-1.
  const laned = () =>
    sendAll(
      start({ concurrency: 5, queueCapacity: 4, laneSize: 2 }),
      ['a', 'b', 'c', 'd', 'e'].map((c) => enqueueEvent(c)),
    );

  it('a new slot past laneSize spawns its lane first, then the job through the lane; the first slots stay direct', () => {
    const two = sendAll(start({ concurrency: 5, laneSize: 2 }), [enqueueEvent('a'), enqueueEvent('b')]);
    expect(Object.keys(two.snapshot.children)).toEqual(['job-0', 'job-1']);
    const third = send(two.snapshot, enqueueEvent('c'));
    expect(types(third.actions)).toEqual(['publishStarted', 'resolveEnqueue', 'xstate.spawnChild', 'xstate.sendTo']);
    expect(third.actions[2]?.params).toMatchObject({ id: 'lane-0' });
    expect(third.actions[3]?.params).toMatchObject({
      targetId: 'lane-0',
      event: { type: 'lane.spawn', slot: 'job-2', input: { runId: 'run-c', job: request('c').job } },
    });
    const fourth = send(third.snapshot, enqueueEvent('d'));
    // lane-0 exists already: no second lane for job-3.
    expect(types(fourth.actions)).toEqual(['publishStarted', 'resolveEnqueue', 'xstate.sendTo']);
    expect(Object.keys(laned().snapshot.children)).toEqual(['job-0', 'job-1', 'lane-0', 'lane-1']);
    expect(laned().snapshot.context.activeByChild).toEqual({ a: 'job-0', b: 'job-1', c: 'job-2', d: 'job-3', e: 'job-4' });
  });

  it('cancel and discard reach a laned job through its lane (lane.send)', () => {
    const busy = laned();
    const cancelled = send(busy.snapshot, cancelEvent(['a', 'e'], 'user'));
    expect(paramsOf(cancelled.actions, 'xstate.sendTo')).toEqual([
      expect.objectContaining({ targetId: 'job-0', event: { type: 'job.cancel', reason: 'user' } }),
      expect.objectContaining({
        targetId: 'lane-1',
        event: { type: 'lane.send', slot: 'job-4', event: { type: 'job.cancel', reason: 'user' } },
      }),
    ]);
    const discarded = send(busy.snapshot, { type: 'scheduler.discard', runIds: ['run-d'] });
    expect(paramsOf(discarded.actions, 'xstate.sendTo')).toEqual([
      expect.objectContaining({ targetId: 'lane-0', event: { type: 'lane.send', slot: 'job-3', event: { type: 'job.discard' } } }),
    ]);
  });

  it('lane.jobDone: jobEnded, the lane stops the job (lane.stop), the next run reuses the slot through the lane', () => {
    const busy = send(laned().snapshot, enqueueEvent('f'));
    expect(busy.snapshot.context.queue.map((run) => run.runId)).toEqual(['run-f']);
    const output = doneEvent('job-3', 'd').output;
    const step = send(busy.snapshot, { type: 'lane.jobDone', slot: 'job-3', output });
    expect(step.snapshot.value).toBe('accepting');
    expect(types(step.actions)).toEqual(['jobEnded', 'xstate.sendTo', 'xstate.sendTo']);
    expect(step.actions[0]?.params).toEqual({ output, runId: 'run-d', slot: 'job-3' });
    expect(step.actions[1]?.params).toMatchObject({ targetId: 'lane-0', event: { type: 'lane.stop', slot: 'job-3' } });
    expect(step.actions[2]?.params).toMatchObject({
      targetId: 'lane-0',
      event: { type: 'lane.spawn', slot: 'job-3', input: { runId: 'run-f' } },
    });
  });

  it('lane.jobError: jobCrashed, jobEnded without output, lane.stop', () => {
    const step = send(laned().snapshot, { type: 'lane.jobError', slot: 'job-2', error: 'boom' });
    expect(types(step.actions)).toEqual(['jobCrashed', 'jobEnded', 'xstate.sendTo']);
    expect(step.actions[0]?.params).toEqual({ runId: 'run-c', parentSessionId: 'p1', childSessionId: 'c', error: 'boom' });
    expect(step.actions[1]?.params).toEqual({ output: undefined, runId: 'run-c', slot: 'job-2' });
    expect(step.snapshot.context.running).toBe(4);
  });

  it('stop cancel reaches every job, direct or laned, and the last lane.jobDone finishes the stop', () => {
    const stopping = send(laned().snapshot, { type: 'scheduler.stop', mode: 'cancel' });
    expect(paramsOf(stopping.actions, 'xstate.sendTo').map((params) => (params as { targetId: string }).targetId)).toEqual([
      'job-0',
      'job-1',
      'lane-0',
      'lane-0',
      'lane-1',
    ]);
    let snapshot = stopping.snapshot;
    for (const [slot, child] of [
      ['job-0', 'a'],
      ['job-1', 'b'],
    ] as const)
      snapshot = send(snapshot, doneEvent(slot, child, 'p1', 'cancelled')).snapshot;
    for (const [slot, child] of [
      ['job-2', 'c'],
      ['job-3', 'd'],
      ['job-4', 'e'],
    ] as const)
      snapshot = send(snapshot, { type: 'lane.jobDone', slot, output: doneEvent(slot, child, 'p1', 'cancelled').output }).snapshot;
    expect(snapshot.value).toBe('stopped');
  });
});

describe('scheduler machine: generated paths', () => {
  const events: SchedulerEvent[] = [
    enqueueEvent('a', 'p1'),
    enqueueEvent('b', 'p2'),
    { type: 'scheduler.stop', mode: 'drain' },
    { type: 'scheduler.stop', mode: 'cancel' },
    doneEvent('job-0', 'a'),
    doneEvent('job-1', 'b'),
  ];
  // Traversal explores several events from each snapshot: it needs a forking transition.
  const paths = getShortestPaths(forkingSchedulerMachine, {
    events,
    input: schedulerInput({ concurrency: 1, queueCapacity: 1 }),
    stopWhen: (snapshot) => snapshot.status !== 'active',
  });

  it('reaches accepting, stopping and stopped (and never rests in check)', () => {
    const values = new Set(paths.map((path) => String(path.state.value)));
    expect([...values].sort()).toEqual(['accepting', 'stopped', 'stopping']);
  });

  it('every path keeps the limits and the stopped ones are drained', () => {
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) {
      const { context } = path.state;
      expect(context.running).toBeLessThanOrEqual(1);
      expect(context.queue.length).toBeLessThanOrEqual(1);
      if (path.state.value === 'stopped') {
        expect(path.state.status).toBe('done');
        expect(context.queue.toArray()).toEqual([]);
        expect(context.waiting.toArray()).toEqual([]);
        expect(context.active).toEqual({});
      }
      if (path.state.value === 'stopping') expect(context.stopMode).toBeDefined();
    }
  });

  it('replaying a path to stopped: every started run was spawned and ended exactly once', () => {
    const toStopped = paths.filter((path) => path.state.value === 'stopped');
    expect(toStopped.length).toBeGreaterThan(0);
    for (const path of toStopped) {
      let snapshot = start({ concurrency: 1, queueCapacity: 1 });
      const all: SeenAction[] = [];
      for (const step of path.steps.slice(1)) {
        const next = send(snapshot, step.event);
        snapshot = next.snapshot;
        all.push(...next.actions);
      }
      expect(snapshot.value).toBe('stopped');
      const started = paramsOf(all, 'publishStarted')
        .map((params) => (params as { run: { runId: string } }).run.runId)
        .sort();
      const spawnedIds = paramsOf(all, 'xstate.spawnChild')
        .map((params) => (params as { input: { runId: string } }).input.runId)
        .sort();
      const ended = paramsOf(all, 'jobEnded')
        .map((params) => (params as { runId: string }).runId)
        .sort();
      expect(spawnedIds).toEqual(started);
      expect(ended).toEqual(started);
    }
  });
});
