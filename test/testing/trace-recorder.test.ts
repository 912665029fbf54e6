import { assign, createActor, fromPromise, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createTraceRecorder, createTestClock, advance, type TraceEntry } from '../../src/testing/index.js';

const toggle = setup({ types: { context: {} as { count: number } }, actions: { tick: () => undefined } }).createMachine({
  id: 'toggle',
  context: { count: 0 },
  initial: 'off',
  states: {
    off: { on: { flip: { target: 'on', actions: assign({ count: ({ context }) => context.count + 1 }) } } },
    on: { entry: 'tick', on: { flip: 'passing' } },
    passing: { always: 'off' },
  },
});

describe('createTraceRecorder', () => {
  it('records actors, events and state values compactly', () => {
    const trace = createTraceRecorder();
    const actor = createActor(toggle, { id: 'toggle-1', inspect: trace.inspect }).start();
    actor.send({ type: 'flip' });
    actor.send({ type: 'flip' });
    actor.send({ type: 'noop' });

    expect(trace.actorIds()).toEqual(['toggle-1']);
    expect(trace.eventTypesOf('toggle')).toEqual(['xstate.init', 'flip', 'flip', 'noop']);
    expect(trace.stateValuesOf('toggle-1')).toEqual(['off', 'on', 'off']);
    expect(trace.stateValuesOf('toggle-1', { microsteps: true })).toEqual(['off', 'on', 'passing', 'off']);
    const entry: TraceEntry | undefined = trace.entriesOf('toggle-1', '@xstate.snapshot')[1];
    expect(entry).toEqual({
      type: '@xstate.snapshot',
      actorId: 'toggle-1',
      sessionId: actor.sessionId,
      rootId: actor.sessionId,
      eventType: 'flip',
      value: 'on',
      status: 'active',
    });
    expect(trace.actionTypesOf('toggle-1')).toEqual(['tick']);
  });

  it('records invoked children with their ids and who sent what', async () => {
    const clock = createTestClock();
    const trace = createTraceRecorder();
    const parent = setup({ actors: { work: fromPromise(() => Promise.resolve(42)) } }).createMachine({
      initial: 'working',
      states: { working: { invoke: { id: 'worker', src: 'work', onDone: 'done' } }, done: { type: 'final' } },
    });
    const actor = createActor(parent, { id: 'parent', clock, inspect: trace.inspect }).start();
    await advance(clock, 0);
    expect(actor.getSnapshot().status).toBe('done');
    expect(trace.actorIds()).toEqual(['parent', 'worker']);
    expect(trace.stateValuesOf('parent')).toEqual(['working', 'done']);
    const doneEvent = trace.entriesOf('parent', '@xstate.event').find((e) => e.eventType === 'xstate.done.actor.worker');
    expect(doneEvent?.sourceId).toBe('worker');
    expect(trace.entriesOf('worker', '@xstate.snapshot').at(-1)).toMatchObject({ status: 'done' });
  });

  it('bounds memory with `limit`, forwards raw events, and clears', () => {
    const forwarded: string[] = [];
    const trace = createTraceRecorder({ limit: 3, forward: (event) => forwarded.push(event.type) });
    const actor = createActor(toggle, { inspect: trace.inspect }).start();
    actor.send({ type: 'flip' });
    expect(trace.events).toHaveLength(3);
    expect(trace.dropped).toBe(forwarded.length - 3);
    trace.clear();
    expect(trace.events).toEqual([]);
    expect(trace.dropped).toBe(0);
  });
});
