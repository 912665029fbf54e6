import { describe, expect, it } from 'vitest';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { SchedulerContext, WaitingEnqueue } from '../../machines/scheduler.events.js';
import { planCancel, planDiscard, planEnqueue, planJobEnd, planStop, type Plan } from '../../machines/scheduler.plan.js';
import { emptyContext } from './scheduler.fixtures.js';
import * as reference from './scheduler.reference-plan.js';

/**
 * The in-place plans keep the queue rules exactly: for seeded random sequences of enqueue, job
 * end, cancel, discard and stop, they produce the same effects, in the same order, and the same
 * queue, waiting list, slots and counters as the copy-on-write plans they replaced (issue 13).
 */

/** A small deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What both contexts must agree on, as plain data. */
function state(context: SchedulerContext | reference.SchedulerContext) {
  return {
    queue: [...context.queue].map((run) => run.runId),
    waiting: [...context.waiting].map((run) => run.runId),
    active: { ...context.active },
    activeByChild: { ...context.activeByChild },
    perParent: { ...context.perParent },
    running: context.running,
    freeSlots: [...context.freeSlots],
    slotCount: context.slotCount,
    stopMode: context.stopMode,
  };
}

const limits = [
  { concurrency: 1, perParentConcurrency: 1, queueCapacity: 1 },
  { concurrency: 3, perParentConcurrency: 1, queueCapacity: 2 },
  { concurrency: 3, perParentConcurrency: 2, queueCapacity: 4 },
  { concurrency: 5, perParentConcurrency: 2, queueCapacity: 3 },
  { concurrency: 8, perParentConcurrency: 3, queueCapacity: 6 },
  { concurrency: 2, perParentConcurrency: 8, queueCapacity: 8 },
];

describe('in-place plans ≡ the copy-on-write plans they replaced', () => {
  const cases = limits.flatMap((limit, i) => [1, 2, 3, 4, 5].map((seed) => [i * 10 + seed, limit] as const));

  it.each(cases)('seed %i (%o): same effects and state after every step', (seed, limit) => {
    const random = rng(seed);
    const pick = <T>(items: readonly T[]): T | undefined => items[Math.floor(random() * items.length)];
    let current = emptyContext(limit);
    let old = reference.emptyReferenceContext(current);
    const runIds: string[] = [];
    const parents = 1 + Math.floor(random() * 6);
    const reasons: CompletionReason[] = ['user', 'parent'];
    let steps = 0;

    const step = (next: Plan, expected: reference.Plan, what: string): void => {
      steps += 1;
      // Lanes (job actors past laneSize held by lane actors) are new: the reference has no such effect.
      expect(
        next.effects.filter((effect) => effect.kind !== 'spawnLane'),
        what,
      ).toEqual(expected.effects);
      current = next.context;
      old = expected.context;
      expect(state(current), what).toEqual(state(old));
    };

    for (let i = 0; i < 500; i++) {
      const roll = random();
      const child = `c${Math.floor(random() * 40)}`;
      if (roll < 0.5) {
        const runId = `run-${i}`;
        runIds.push(runId);
        const request: WaitingEnqueue = {
          requestId: `req-${i}`,
          runId,
          job: { parentSessionId: `p${Math.floor(random() * parents)}`, childSessionId: child, model: 'm' },
          ...(random() < 0.3 ? { title: `t${i}` } : {}),
        };
        step(planEnqueue(current, request), reference.planEnqueue(old, { ...request }), `${i}: enqueue ${child}`);
      } else if (roll < 0.8) {
        const slot = pick(Object.keys(current.active)) ?? 'job-99';
        step(planJobEnd(current, slot), reference.planJobEnd(old, slot), `${i}: end ${slot}`);
      } else if (roll < 0.92) {
        const ids = new Set([child, `c${Math.floor(random() * 40)}`, 'unknown']);
        const reason = pick(reasons) ?? 'user';
        step(planCancel(current, ids, reason), reference.planCancel(old, ids, reason), `${i}: cancel ${[...ids].join(',')}`);
      } else if (roll < 0.97) {
        // The runtime discards one never-announced run at a time.
        const ids = new Set([pick(runIds) ?? 'none']);
        step(planDiscard(current, ids), reference.planDiscard(old, ids), `${i}: discard ${[...ids].join(',')}`);
      } else if (i > 350) {
        const mode = random() < 0.5 ? 'drain' : 'cancel';
        // In `stopping`, the machine only plans a second stop when it escalates to cancel.
        if (current.stopMode === undefined || mode === 'cancel')
          step(planStop(current, mode), reference.planStop(old, mode), `${i}: stop ${mode}`);
      }
    }
    if (current.stopMode === undefined) step(planStop(current, 'drain'), reference.planStop(old, 'drain'), 'final stop');
    for (let guard = 0; guard < 200 && !reference.isIdle(old); guard++) {
      const slot = Object.keys(current.active)[0] ?? 'none';
      step(planJobEnd(current, slot), reference.planJobEnd(old, slot), `drain: end ${slot}`);
    }
    expect(reference.isIdle(old)).toBe(true);
    expect(state(current)).toEqual(state(old));
    expect(steps).toBeGreaterThan(300);
  });
});
