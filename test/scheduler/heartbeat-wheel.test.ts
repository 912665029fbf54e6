import { describe, expect, it } from 'vitest';
import { HeartbeatWheel } from '../../src/scheduler/heartbeat-wheel.js';
import { createTestClock } from '../../src/testing/simulated-clock.js';

describe('HeartbeatWheel (on a simulated clock)', () => {
  it('beats when a run is added, then every interval after its own start, until removed', () => {
    const clock = createTestClock();
    const wheel = new HeartbeatWheel(clock);
    const beats: string[] = [];
    wheel.add('a', 1000, () => beats.push(`a@${clock.now()}`));
    clock.increment(300);
    wheel.add('b', 1000, () => beats.push(`b@${clock.now()}`));
    clock.increment(700); // 1000
    clock.increment(300); // 1300
    clock.increment(700); // 2000
    wheel.remove('a');
    clock.increment(300); // 2300 (SimulatedClock.increment runs due timers at the new time: step to each due time)
    clock.increment(700); // 3000
    expect(beats).toEqual(['a@0', 'b@300', 'a@1000', 'b@1300', 'a@2000', 'b@2300']);
    wheel.remove('b');
    clock.increment(10_000);
    expect(beats).toHaveLength(6);
    expect(wheel.size).toBe(0);
  });

  it('runs due at the same time beat in the order they were added; a run removed by another beat does not beat', () => {
    const clock = createTestClock();
    const wheel = new HeartbeatWheel(clock);
    const beats: string[] = [];
    for (const key of ['x', 'y', 'z']) {
      wheel.add(key, 500, () => {
        beats.push(key);
        if (key === 'x' && clock.now() > 0) wheel.remove('y');
      });
    }
    clock.increment(500);
    expect(beats).toEqual(['x', 'y', 'z', 'x', 'z']);
  });

  it('one clock timer for any number of runs; a round of 10,000 beats each run once', () => {
    const clock = createTestClock();
    let timers = 0;
    const setTimeout = clock.setTimeout.bind(clock);
    clock.setTimeout = (fn, ms) => {
      timers += 1;
      return setTimeout(fn, ms);
    };
    const wheel = new HeartbeatWheel(clock);
    const counts = new Map<number, number>();
    for (let i = 0; i < 10_000; i++) wheel.add(String(i), 5000, () => counts.set(i, (counts.get(i) ?? 0) + 1));
    expect(timers).toBe(1);
    clock.increment(5000);
    expect([...counts.values()].every((n) => n === 2)).toBe(true);
    expect(counts.size).toBe(10_000);
    expect(timers).toBe(2);
  });

  it('re-adding a key replaces its schedule', () => {
    const clock = createTestClock();
    const wheel = new HeartbeatWheel(clock);
    const beats: number[] = [];
    wheel.add('a', 1000, () => beats.push(1));
    wheel.add('a', 1000, () => beats.push(2));
    clock.increment(1000);
    expect(beats).toEqual([1, 2, 2]);
    expect(wheel.size).toBe(1);
  });
});
