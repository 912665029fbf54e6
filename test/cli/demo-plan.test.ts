import { describe, expect, it } from 'vitest';
import { createDemoPlan } from '../../src/cli/demo-plan.js';
import { createSeededIds, createSeededRandom, hashSeed } from '../../src/cli/seeded-random.js';

describe('seeded randomness', () => {
  it('repeats for the same seed and differs between seeds and streams', () => {
    const draw = (seed: string, stream: string) => {
      const random = createSeededRandom(seed, stream);
      return Array.from({ length: 5 }, () => random.int(0, 1_000_000));
    };
    expect(draw('42', 'a')).toEqual(draw('42', 'a'));
    expect(draw('42', 'a')).not.toEqual(draw('43', 'a'));
    expect(draw('42', 'a')).not.toEqual(draw('42', 'b'));
    expect(hashSeed('42')).toBe(hashSeed('42'));
  });

  it('makes UUID-shaped ids that repeat for the same seed', () => {
    const a = createSeededIds('42');
    const b = createSeededIds('42');
    const ids = Array.from({ length: 50 }, () => a());
    expect(Array.from({ length: 50 }, () => b())).toEqual(ids);
    expect(new Set(ids).size).toBe(50);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(createSeededIds('42', 'root')()).not.toBe(ids[0]);
  });
});

describe('createDemoPlan', () => {
  it('is a function of its input', () => {
    const input = { seed: 'plan', children: 6, fail: true, cancelAfterMs: 1000 };
    expect(createDemoPlan(input)).toEqual(createDemoPlan(input));
    expect(createDemoPlan(input)).not.toEqual(createDemoPlan({ ...input, seed: 'other' }));
  });

  it('expects one error with --fail and one cancel with --cancel-after, on different children', () => {
    const plan = createDemoPlan({ seed: 's', children: 6, fail: true, cancelAfterMs: 800 });
    expect(plan.children.map((child) => child.expected).sort()).toEqual([
      'cancelled',
      'completed',
      'completed',
      'completed',
      'completed',
      'error',
    ]);
    expect(plan.cancelTitle).toBe(plan.children.find((child) => child.expected === 'cancelled')?.title);
    // The cancelled child's tool call lasts past the cancel, so the cancel always finds it in progress.
    const cancelled = plan.children.find((child) => child.expected === 'cancelled');
    const longest = Math.max(...(cancelled?.script ?? []).map((step) => ('tool' in step ? (step.tool.duration ?? 0) : 0)));
    expect(longest).toBeGreaterThan(800 + 10_000);
    expect(plan.children.find((child) => child.expected === 'error')?.script.at(-1)).toEqual({
      fail: 'upstream API returned HTTP 503 (simulated failure)',
    });
  });

  it('gives every child a distinct title, even past the task catalogue', () => {
    const plan = createDemoPlan({ seed: 'many', children: 20, fail: false, cancelAfterMs: undefined });
    expect(new Set(plan.children.map((child) => child.title)).size).toBe(20);
    expect(plan.children.every((child) => child.expected === 'completed' && child.answer !== null)).toBe(true);
  });
});
