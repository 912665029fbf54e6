import { describe, expect, it } from 'vitest';
import { initialTransition, transition } from 'xstate';
import type { SchedulerContext, WaitingEnqueue } from '../../machines/scheduler.events.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import { isIdle, planCancel, planEnqueue, planJobEnd, planStop } from '../../machines/scheduler.plan.js';
import { doneEvent, emptyContext, enqueueEvent, schedulerInput } from './scheduler.fixtures.js';

/**
 * Issue 13: getting 10,000 children running took 80+ s because every spawn and every job end
 * copied the scheduler's collections. These tests pin the fix without a clock (no wall-clock
 * assertion, so a slow machine cannot make them flake): they count the work the plans do.
 *
 * Every run's `job` and every record of the context is wrapped in a counting Proxy, so any read of
 * a run (as a scan of the queue, the waiting list or the active runs does) and any touch of a
 * record (as a copy or an enumeration does) is counted. Linear work means the count grows by the
 * same factor as the number of runs: 10× the runs, at most ~10× the count.
 */

interface Counter {
  /** Reads of a run's job fields and operations on the context's records. */
  ops: number;
  /** Enumerations of a record (`Object.keys`, spread, copy). */
  enumerations: number;
}

function counting<T extends object>(target: T, counter: Counter): T {
  return new Proxy(target, {
    get(object, key, receiver) {
      counter.ops += 1;
      return Reflect.get(object, key, receiver) as unknown;
    },
    set(object, key, value, receiver) {
      counter.ops += 1;
      return Reflect.set(object, key, value, receiver);
    },
    deleteProperty(object, key) {
      counter.ops += 1;
      return Reflect.deleteProperty(object, key);
    },
    has(object, key) {
      counter.ops += 1;
      return Reflect.has(object, key);
    },
    ownKeys(object) {
      counter.enumerations += 1;
      const keys = Reflect.ownKeys(object);
      counter.ops += keys.length;
      return keys;
    },
  });
}

/** A context whose records are counted, and a factory of requests whose jobs are counted. */
function instrumented(limits: Parameters<typeof emptyContext>[0]) {
  const counter: Counter = { ops: 0, enumerations: 0 };
  const context = emptyContext(limits);
  context.active = counting(context.active, counter);
  context.activeByChild = counting(context.activeByChild, counter);
  context.slotOfRun = counting(context.slotOfRun, counter);
  context.perParent = counting(context.perParent, counter);
  context.freeSlots = counting(context.freeSlots, counter);
  const structures = collections(context);
  const request = (child: string, parent: string): WaitingEnqueue => ({
    requestId: `req-${child}`,
    runId: `run-${child}`,
    job: counting({ parentSessionId: parent, childSessionId: child, model: 'm' }, counter),
  });
  return { counter, context, structures, request };
}

const collections = (context: SchedulerContext) => [
  context.queue,
  context.waiting,
  context.active,
  context.activeByChild,
  context.slotOfRun,
  context.perParent,
  context.freeSlots,
];

/** Ends the oldest active slot until nothing is in flight (slot ids are recycled LIFO). */
function endAll(context: SchedulerContext, slotOf: (context: SchedulerContext) => string | undefined): number {
  let ended = 0;
  for (let guard = 0; !isIdle(context) && guard < 1_000_000; guard++) {
    const slot = slotOf(context);
    if (slot === undefined) break;
    planJobEnd(context, slot);
    ended += 1;
  }
  return ended;
}

interface Scenario {
  name: string;
  /** Runs the scenario for n runs on an instrumented context; returns how many runs ended. */
  run(n: number): { counter: Counter; ended: number; identityKept: boolean };
}

/** Each run's slot, in the order runs started (the test's own bookkeeping, not counted). */
function startOrder() {
  const slots: string[] = [];
  let next = 0;
  return {
    note(effects: readonly { kind: string; slot?: string }[]) {
      for (const effect of effects) if (effect.kind === 'spawn' && effect.slot !== undefined) slots.push(effect.slot);
    },
    oldest: () => slots[next++],
  };
}

const scenarios: Scenario[] = [
  {
    name: 'n runs of one parent all running at once (the bench "wide" setup), then all ending',
    run(n) {
      const { counter, context, structures, request } = instrumented({ concurrency: n, perParentConcurrency: n, queueCapacity: n });
      const order = startOrder();
      for (let i = 0; i < n; i++) order.note(planEnqueue(context, request(`c${i}`, 'root')).effects);
      expect(context.running).toBe(n);
      const ended = endAll(context, () => order.oldest());
      return { counter, ended, identityKept: collections(context).every((c, i) => c === structures[i]) };
    },
  },
  {
    name: 'backpressure: n enqueues against concurrency 8 and a queue of 16 (almost all wait), then all ending',
    run(n) {
      const { counter, context, structures, request } = instrumented({ concurrency: 8, perParentConcurrency: 8, queueCapacity: 16 });
      const order = startOrder();
      for (let i = 0; i < n; i++) order.note(planEnqueue(context, request(`c${i}`, 'root')).effects);
      expect(context.waiting.length).toBe(n - 24);
      // Ending a run starts the next: note the spawns as they happen.
      let ended = 0;
      while (!isIdle(context)) {
        order.note(planJobEnd(context, order.oldest() as string).effects);
        ended += 1;
      }
      return { counter, ended, identityKept: collections(context).every((c, i) => c === structures[i]) };
    },
  },
  {
    name: 'many parents at their limit: n/2 parents with 2 runs each and perParentConcurrency 1 (every second run blocked)',
    run(n) {
      const { counter, context, structures, request } = instrumented({ concurrency: n, perParentConcurrency: 1, queueCapacity: n });
      const order = startOrder();
      for (let i = 0; i < n; i++) order.note(planEnqueue(context, request(`c${i}`, `p${i >> 1}`)).effects);
      expect(context.running).toBe(n / 2);
      expect(context.queue.length).toBe(n / 2);
      let ended = 0;
      while (!isIdle(context)) {
        order.note(planJobEnd(context, order.oldest() as string).effects);
        ended += 1;
      }
      return { counter, ended, identityKept: collections(context).every((c, i) => c === structures[i]) };
    },
  },
  {
    name: 'cancel one at a time: n runs queued or waiting behind 4 running, each cancelled by its own event',
    run(n) {
      const { counter, context, structures, request } = instrumented({ concurrency: 4, perParentConcurrency: 4, queueCapacity: n / 2 });
      const order = startOrder();
      for (let i = 0; i < n; i++) order.note(planEnqueue(context, request(`c${i}`, `p${i % 7}`)).effects);
      expect(context.waiting.length).toBe(n / 2 - 4);
      // Newest first, then oldest first: removal from both ends and the middle of both lists.
      for (let i = n - 1; i >= n / 2; i--) order.note(planCancel(context, new Set([`c${i}`]), 'user').effects);
      for (let i = 4; i < n / 2; i++) order.note(planCancel(context, new Set([`c${i}`]), 'user').effects);
      expect(context.queue.length + context.waiting.length).toBe(0);
      const ended = endAll(context, () => order.oldest());
      return { counter, ended, identityKept: collections(context).every((c, i) => c === structures[i]) };
    },
  },
];

describe('scheduler bookkeeping is linear (issue 13), counted, not timed', () => {
  const N = 1_000;

  it.each(scenarios.map((scenario) => [scenario.name, scenario] as const))('%s', (_name, scenario) => {
    const small = scenario.run(N);
    const large = scenario.run(10 * N);
    expect(small.ended).toBeGreaterThanOrEqual(N);
    expect(large.ended).toBeGreaterThanOrEqual(10 * N);
    // The context's collections are updated in place: never replaced by a copy.
    expect(small.identityKept).toBe(true);
    expect(large.identityKept).toBe(true);
    // Copying or scanning would show here: 10× the runs costs ~10× the operations (100× if quadratic).
    expect(large.counter.ops).toBeLessThanOrEqual(10.5 * small.counter.ops);
    // A constant amount of work per run, whatever n.
    expect(large.counter.ops / (10 * N)).toBeLessThan(100);
  });

  it('no record is ever enumerated or copied by enqueue, dispatch, job end or cancel', () => {
    for (const scenario of scenarios) expect(scenario.run(N).counter.enumerations, scenario.name).toBe(0);
  });

  it('stop is one O(n) pass over what is in flight, not one per run', () => {
    const ops = (n: number): number => {
      const { counter, context, request } = instrumented({ concurrency: 8, perParentConcurrency: 8, queueCapacity: 16 });
      for (let i = 0; i < n; i++) planEnqueue(context, request(`c${i}`, 'root'));
      const before = counter.ops;
      planStop(context, 'cancel');
      expect(context.waiting.length + context.queue.length).toBe(0);
      return counter.ops - before;
    };
    expect(ops(10 * N)).toBeLessThanOrEqual(10.5 * ops(N));
  });

  it('through the machine: the context and its collections keep their identity across enqueue and job end events', () => {
    let [snapshot] = initialTransition(
      schedulerMachine,
      schedulerInput({ concurrency: 500, perParentConcurrency: 500, queueCapacity: 1000 }),
    );
    const context = snapshot.context;
    const structures = collections(context);
    for (let i = 0; i < 1000; i++) [snapshot] = transition(schedulerMachine, snapshot, enqueueEvent(`c${i}`));
    expect(snapshot.context.running).toBe(500);
    // XState copies an actor's children on every spawn and stop: the scheduler keeps only its first
    // laneSize job actors as children and the rest in lanes, so that copy stays small (7 lanes here).
    expect(Object.keys(snapshot.children)).toHaveLength(64 + Math.ceil((500 - 64) / 64));
    for (let i = 0; i < 1000; i++) {
      const slot = snapshot.context.activeByChild[`c${i}`] as string;
      [snapshot] = transition(schedulerMachine, snapshot, doneEvent(slot, `c${i}`));
    }
    expect(snapshot.context).toBe(context);
    expect(collections(snapshot.context).every((c, i) => c === structures[i])).toBe(true);
    expect(snapshot.context.running).toBe(0);
    expect(isIdle(snapshot.context)).toBe(true);
  });
});
