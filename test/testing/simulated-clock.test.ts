import { SimulatedClock, createActor, createMachine } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { SproutClock } from '../../src/clock.js';
import { RunUntilTimeoutError, TestClock, advance, createTestClock, flushMicrotasks, runUntil } from '../../src/testing/index.js';

describe('createTestClock', () => {
  it('is an XState SimulatedClock and a SproutClock, starting at `now`', () => {
    const clock = createTestClock({ now: 5000 });
    const asSprout: SproutClock = clock;
    expect(clock).toBeInstanceOf(SimulatedClock);
    expect(asSprout.now()).toBe(5000);
  });

  it('tracks pending timers and the next due time', () => {
    const clock = new TestClock();
    const a = clock.setTimeout(() => undefined, 300);
    clock.setTimeout(() => undefined, 100);
    expect(clock.pendingTimers()).toBe(2);
    expect(clock.nextTimerAt()).toBe(100);
    clock.increment(100);
    expect(clock.nextTimerAt()).toBe(300);
    clock.clearTimeout(a);
    expect(clock.pendingTimers()).toBe(0);
    expect(clock.nextTimerAt()).toBeUndefined();
  });

  it('drives XState delayed transitions', async () => {
    const clock = createTestClock();
    const machine = createMachine({ initial: 'a', states: { a: { after: { 1000: 'b' } }, b: {} } });
    const actor = createActor(machine, { clock }).start();
    await advance(clock, 999);
    expect(actor.getSnapshot().value).toBe('a');
    await advance(clock, 1);
    expect(actor.getSnapshot().value).toBe('b');
  });
});

describe('flushMicrotasks', () => {
  it('lets a chain of promise continuations settle without moving the clock', async () => {
    const clock = createTestClock();
    let done = false;
    void (async () => {
      for (let i = 0; i < 50; i += 1) await Promise.resolve();
      done = true;
    })();
    await flushMicrotasks();
    expect(done).toBe(true);
    expect(clock.now()).toBe(0);
  });
});

describe('advance', () => {
  it('fires timers scheduled by promise continuations inside the window, in due order', async () => {
    const clock = createTestClock();
    const fired: string[] = [];
    const later = (label: string, ms: number, then?: () => void): void => {
      clock.setTimeout(() => {
        fired.push(`${label}@${clock.now()}`);
        // The follow-up is scheduled from a promise continuation, as async code does.
        if (then) void Promise.resolve().then(then);
      }, ms);
    };
    later('a', 100, () => later('b', 50, () => later('c', 0)));
    later('d', 200);
    await advance(clock, 300);
    expect(fired).toEqual(['a@100', 'b@150', 'c@150', 'd@200']);
    expect(clock.now()).toBe(300);
  });

  it('fires zero-delay timers scheduled at the end of the window', async () => {
    const clock = createTestClock();
    const fired: number[] = [];
    clock.setTimeout(() => void Promise.resolve().then(() => clock.setTimeout(() => fired.push(clock.now()), 0)), 10);
    await advance(clock, 10);
    expect(fired).toEqual([10]);
  });

  it('moves a plain SimulatedClock in `step` increments', async () => {
    const clock = new SimulatedClock();
    const fired: number[] = [];
    clock.setTimeout(() => void Promise.resolve().then(() => clock.setTimeout(() => fired.push(clock.now()), 10)), 10);
    await advance(clock, 40, { step: 10 });
    expect(fired).toEqual([20]);
    expect(clock.now()).toBe(40);
  });

  it('refuses negative time', async () => {
    await expect(advance(createTestClock(), -1)).rejects.toThrow('ms must be >= 0');
  });
});

describe('runUntil', () => {
  it('advances until the predicate holds and returns the simulated ms that passed', async () => {
    const clock = createTestClock();
    let ready = false;
    clock.setTimeout(
      () =>
        void Promise.resolve().then(() => {
          ready = true;
        }),
      1234,
    );
    await expect(runUntil(() => ready, { clock, maxMs: 5000 })).resolves.toBe(1234);
    expect(clock.now()).toBe(1234);
  });

  it('accepts an async predicate and resolves at once when it already holds', async () => {
    const clock = createTestClock();
    await expect(runUntil(() => Promise.resolve(true), { clock })).resolves.toBe(0);
  });

  it('throws a clear RunUntilTimeoutError after maxMs of simulated time', async () => {
    const clock = createTestClock();
    const error = await runUntil(() => false, { clock, maxMs: 100, description: 'child completed' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RunUntilTimeoutError);
    expect((error as RunUntilTimeoutError).code).toBe('RUN_UNTIL_TIMEOUT');
    expect((error as Error).message).toBe('runUntil: child completed still false after 100 ms of simulated time (clock at 100 ms)');
  });
});
