import { describe, expect, it } from 'vitest';
import { assign, createActor, setup, type AnyActorRef } from 'xstate';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SpawnJobInput, SpawnJobOutput } from '../../machines/spawn-job.events.js';
import { enqueueEvent, schedulerInput } from './scheduler.fixtures.js';

/**
 * Lanes with real actors: job actors past `laneSize` are children of lane actors, which run the
 * scheduler's provided job logic, pass its messages on and forward completions and crashes.
 */

/** A stand-in job: runs until told to `finish`, `crash`, or to end by `job.cancel` / `job.discard` / `job.abandon`. */
const fakeJob = setup({
  types: {
    input: {} as SpawnJobInput,
    context: {} as { input: SpawnJobInput; status: SpawnJobOutput['status']; reason?: CompletionReason | undefined },
    events: {} as
      | { type: 'finish' }
      | { type: 'crash' }
      | { type: 'job.cancel'; reason: CompletionReason }
      | { type: 'job.discard' }
      | { type: 'job.abandon' },
  },
}).createMachine({
  id: 'fakeJob',
  context: ({ input }) => ({ input, status: 'completed', reason: input.cancelRequest?.reason }),
  initial: 'start',
  states: {
    start: { always: [{ guard: ({ context }) => context.reason !== undefined, target: 'ended' }, { target: 'running' }] },
    running: {
      on: {
        finish: 'ended',
        crash: {
          actions: () => {
            throw new Error('job blew up');
          },
        },
        'job.cancel': { target: 'ended', actions: assign({ reason: ({ event }) => event.reason }) },
        'job.discard': { target: 'ended', actions: assign({ status: 'discarded' as const }) },
        'job.abandon': { target: 'ended', actions: assign({ reason: 'shutdown' as const }) },
      },
    },
    ended: { type: 'final' },
  },
  output: ({ context }) =>
    ({
      runId: context.input.runId,
      parentSessionId: context.input.job.parentSessionId,
      childSessionId: context.input.job.childSessionId,
      status: context.reason === undefined ? context.status : 'cancelled',
      reason: context.reason,
    }) as SpawnJobOutput,
});

function harness(overrides: Parameters<typeof schedulerInput>[0]) {
  const ended: { runId: string; status: string | undefined }[] = [];
  const crashed: string[] = [];
  const logic = schedulerMachine.provide({
    actors: { spawnJob: fakeJob as never },
    actions: {
      jobEnded: (_, { runId, output }) => ended.push({ runId, status: output?.status }),
      jobCrashed: (_, { runId }) => crashed.push(runId),
    },
  });
  const actor = createActor(logic, { input: schedulerInput(overrides) }).start();
  const children = (ref: AnyActorRef): Record<string, AnyActorRef> =>
    (ref.getSnapshot() as { children: Record<string, AnyActorRef> }).children;
  /** The job actor of a slot, wherever it lives. */
  const job = (slot: string): AnyActorRef | undefined =>
    children(actor)[slot] ?? Object.values(children(actor)).flatMap((lane) => (children(lane)[slot] ? [children(lane)[slot]] : []))[0];
  return { actor, ended, crashed, children, job };
}

describe('scheduler lanes with real actors', () => {
  it('holds jobs past laneSize in lanes of laneSize, running the provided job logic', () => {
    const h = harness({ concurrency: 50, perParentConcurrency: 50, queueCapacity: 50, laneSize: 4 });
    for (let i = 0; i < 50; i++) h.actor.send(enqueueEvent(`c${i}`));
    const top = h.children(h.actor);
    // 4 direct job actors and ⌈46 / 4⌉ = 12 lanes; every lane holds at most 4.
    expect(Object.keys(top).filter((id) => id.startsWith('job-'))).toEqual(['job-0', 'job-1', 'job-2', 'job-3']);
    expect(Object.keys(top).filter((id) => id.startsWith('lane-'))).toHaveLength(12);
    for (const lane of Object.values(top).filter((ref) => ref.id.startsWith('lane-'))) {
      expect(Object.keys(h.children(lane)).length).toBeLessThanOrEqual(4);
      expect(Object.keys(h.children(lane)).length).toBeGreaterThan(0);
    }
    const laned = h.job('job-17');
    expect(laned?.getSnapshot()).toMatchObject({ status: 'active', value: 'running', context: { input: { runId: 'run-c17' } } });
    expect(laned?.system).toBe(h.actor.system);
  });

  it('finish, cancel, discard and crash of laned jobs reach the scheduler once each; slots are reused; stop ends everything', () => {
    const h = harness({ concurrency: 12, perParentConcurrency: 12, queueCapacity: 100, laneSize: 4 });
    for (let i = 0; i < 20; i++) h.actor.send(enqueueEvent(`c${i}`));
    expect(h.actor.getSnapshot().context.running).toBe(12);
    expect(h.actor.getSnapshot().context.queue.length).toBe(8);

    h.job('job-9')?.send({ type: 'finish' });
    expect(h.ended).toEqual([{ runId: 'run-c9', status: 'completed' }]);
    // The freed slot went to the next queued run, in the same lane, and the old actor was stopped.
    expect((h.job('job-9')?.getSnapshot() as { context: { input: SpawnJobInput } }).context.input.runId).toBe('run-c12');

    h.actor.send({ type: 'scheduler.cancel', childSessionIds: ['c5'], reason: 'user' });
    expect(h.ended.at(-1)).toEqual({ runId: 'run-c5', status: 'cancelled' });

    h.actor.send({ type: 'scheduler.discard', runIds: ['run-c6'] });
    expect(h.ended.at(-1)).toEqual({ runId: 'run-c6', status: 'discarded' });

    h.job('job-10')?.send({ type: 'crash' });
    expect(h.crashed).toEqual(['run-c10']);
    expect(h.ended.at(-1)).toEqual({ runId: 'run-c10', status: undefined });
    expect(h.actor.getSnapshot().status).toBe('active');

    // The stop protocol's job.abandon, sent to a lane, reaches each of its job actors.
    const lane0 = h.children(h.actor)['lane-0'] as AnyActorRef;
    const inLane0 = Object.keys(h.children(lane0)).length;
    lane0.send({ type: 'job.abandon' });
    expect(h.ended.length).toBe(4 + inLane0);

    h.actor.send({ type: 'scheduler.stop', mode: 'cancel' });
    expect(h.actor.getSnapshot().status).toBe('done');
    const runIds = h.ended.map((end) => end.runId);
    expect(new Set(runIds).size).toBe(runIds.length);
    expect(runIds.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `run-c${i}`).sort());
    expect(h.children(h.actor)).toEqual({});
  });

  it('once every run ended, no job actor is left in the scheduler or its lanes', () => {
    const h = harness({ concurrency: 30, perParentConcurrency: 30, queueCapacity: 30, laneSize: 8 });
    for (let i = 0; i < 30; i++) h.actor.send(enqueueEvent(`c${i}`));
    for (let i = 0; i < 30; i++) h.job(h.actor.getSnapshot().context.activeByChild[`c${i}`] as string)?.send({ type: 'finish' });
    expect(h.ended).toHaveLength(30);
    const top = h.children(h.actor);
    expect(Object.keys(top).every((id) => id.startsWith('lane-'))).toBe(true);
    for (const lane of Object.values(top)) expect(h.children(lane)).toEqual({});
  });
});
