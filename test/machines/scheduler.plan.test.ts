import { describe, expect, it } from 'vitest';
import type { SchedulerContext } from '../../machines/scheduler.events.js';
import {
  childrenInFlight,
  cloneSchedulerContext,
  findRunOfChild,
  isIdle,
  planCancel,
  planEnqueue,
  planJobEnd,
  planStop,
  type Plan,
} from '../../machines/scheduler.plan.js';
import { activeRuns, effectsOf, emptyContext, kinds, queued, request, spawnedRuns, view, waiting } from './scheduler.fixtures.js';

/** Enqueues children in order, returning the final context and every plan. */
function enqueueAll(
  context: SchedulerContext,
  children: readonly (string | [string, string])[],
): { context: SchedulerContext; plans: Plan[] } {
  const plans: Plan[] = [];
  let current = context;
  for (const entry of children) {
    const [child, parent] = typeof entry === 'string' ? [entry, 'p1'] : entry;
    const plan = planEnqueue(current, request(child, parent));
    plans.push(plan);
    current = plan.context;
  }
  return { context: current, plans };
}

/** Ends the active run of `child`. */
function end(context: SchedulerContext, child: string): Plan {
  const slot = context.activeByChild[child];
  if (slot === undefined) throw new Error(`no active run for ${child}`);
  return planJobEnd(context, slot);
}

describe('planEnqueue', () => {
  it('queues the run, publishes started, resolves the request, then spawns it (in that order)', () => {
    const plan = planEnqueue(emptyContext(), request('a', 'p1', 'Research'));
    expect(kinds(plan)).toEqual(['started', 'enqueued', 'spawn']);
    expect(plan.effects[0]).toEqual({ kind: 'started', run: { runId: 'run-a', job: request('a').job, title: 'Research' } });
    expect(plan.effects[1]).toEqual({ kind: 'enqueued', requestId: 'req-a', runId: 'run-a', deduplicated: false });
    expect(plan.effects[2]).toEqual({
      kind: 'spawn',
      slot: 'job-0',
      input: { job: request('a').job, runId: 'run-a', limits: { heartbeatIntervalMs: 1000 }, cancelRequest: undefined },
    });
    expect(plan.context).toMatchObject({ running: 1, perParent: { p1: 1 }, activeByChild: { a: 'job-0' }, slotCount: 1 });
    expect(queued(plan.context)).toEqual([]);
    expect(plan.context.active['job-0']).toEqual({ runId: 'run-a', job: request('a').job, slot: 'job-0', counted: true });
  });

  // Until issue 13 the plans were pure (copy-on-write: a collection was copied the first time a plan
  // wrote it, i.e. once per event, which made 10,000 runs quadratic) and this test checked that the
  // given context never changed. They now update the actor's own context in place; the copy-free
  // guarantee is checked in scheduler.linearity.test.ts, and branching needs cloneSchedulerContext.
  it('updates the given context in place and returns it; a cloned context is left alone', () => {
    const context = emptyContext();
    const copy = cloneSchedulerContext(context);
    const { context: after } = enqueueAll(context, ['a', 'b', 'c']);
    expect(after).toBe(context);
    expect(activeRuns(context)).toEqual(['run-a', 'run-b']);
    expect(queued(context)).toEqual(['run-c']);
    expect(view(copy)).toEqual(view(emptyContext()));

    const branch = cloneSchedulerContext(after);
    expect(planStop(branch, 'cancel').context).toBe(branch);
    expect(branch.stopMode).toBe('cancel');
    expect(after.stopMode).toBeUndefined();
    expect(queued(after)).toEqual(['run-c']);
    expect(spawnedRuns(end(after, 'a')).map((run) => run.runId)).toEqual(['run-c']);
  });

  it('starts runs FIFO under the global concurrency cap', () => {
    const { context, plans } = enqueueAll(emptyContext({ concurrency: 2, queueCapacity: 10 }), ['a', 'b', 'c', 'd', 'e']);
    expect(plans.map((plan) => spawnedRuns(plan).map((run) => run.runId))).toEqual([['run-a'], ['run-b'], [], [], []]);
    expect(context.running).toBe(2);
    expect(queued(context)).toEqual(['run-c', 'run-d', 'run-e']);

    const afterA = end(context, 'a');
    expect(spawnedRuns(afterA).map((run) => run.runId)).toEqual(['run-c']);
    const afterB = end(afterA.context, 'b');
    expect(spawnedRuns(afterB).map((run) => run.runId)).toEqual(['run-d']);
    expect(queued(afterB.context)).toEqual(['run-e']);
    expect(afterB.context.running).toBe(2);
  });

  it('caps each parent; a parent at its cap does not block other parents queued behind it', () => {
    const { context } = enqueueAll(emptyContext({ concurrency: 4, perParentConcurrency: 1, queueCapacity: 10 }), [
      ['a1', 'A'],
      ['a2', 'A'],
      ['a3', 'A'],
      ['b1', 'B'],
      ['c1', 'C'],
    ]);
    expect(activeRuns(context)).toEqual(['run-a1', 'run-b1', 'run-c1']);
    expect(queued(context)).toEqual(['run-a2', 'run-a3']);
    expect(context.perParent).toEqual({ A: 1, B: 1, C: 1 });
    expect(context.running).toBe(3);

    // B ending frees a global slot but A is still at its cap: nothing starts.
    const afterB = end(context, 'b1');
    expect(spawnedRuns(afterB)).toEqual([]);
    expect(afterB.context.perParent).toEqual({ A: 1, C: 1 });
    // A ending lets A's next run (FIFO within A) start.
    const afterA = end(afterB.context, 'a1');
    expect(spawnedRuns(afterA).map((run) => run.runId)).toEqual(['run-a2']);
    expect(afterA.context.perParent).toEqual({ A: 1, C: 1 });
  });

  it('a full queue makes enqueue wait (accepted only: no started, no resolve) and admits waiters in order as room opens', () => {
    const { context, plans } = enqueueAll(emptyContext({ concurrency: 1, queueCapacity: 2 }), ['a', 'b', 'c', 'd', 'e']);
    expect(activeRuns(context)).toEqual(['run-a']);
    expect(queued(context)).toEqual(['run-b', 'run-c']);
    expect(waiting(context)).toEqual(['run-d', 'run-e']);
    expect(plans[3]?.effects.map((effect) => effect.kind)).toEqual(['accepted']);
    expect(plans[4]?.effects.map((effect) => effect.kind)).toEqual(['accepted']);

    const afterA = end(context, 'a');
    expect(kinds(afterA)).toEqual(['stopJob', 'spawn', 'started', 'enqueued']);
    expect(spawnedRuns(afterA).map((run) => run.runId)).toEqual(['run-b']);
    expect(effectsOf(afterA, 'enqueued')).toEqual([{ kind: 'enqueued', requestId: 'req-d', runId: 'run-d', deduplicated: false }]);
    expect(queued(afterA.context)).toEqual(['run-c', 'run-d']);
    expect(waiting(afterA.context)).toEqual(['run-e']);

    const afterB = end(afterA.context, 'b');
    expect(spawnedRuns(afterB).map((run) => run.runId)).toEqual(['run-c']);
    expect(effectsOf(afterB, 'started').map((effect) => effect.run.runId)).toEqual(['run-e']);
    expect(queued(afterB.context)).toEqual(['run-d', 'run-e']);
    expect(waiting(afterB.context)).toEqual([]);
  });

  it('after a queued run is cancelled, the earlier waiting enqueue is admitted before a later one', () => {
    const { context } = enqueueAll(emptyContext({ concurrency: 1, queueCapacity: 1 }), ['a', 'b', 'c']);
    expect(waiting(context)).toEqual(['run-c']);
    const cancelled = planCancel(context, new Set(['b']), 'user');
    const plan = planEnqueue(cancelled.context, request('d'));
    expect(queued(plan.context)).toEqual(['run-c']);
    expect(waiting(plan.context)).toEqual(['run-d']);
  });

  it('admits several waiters at once when several slots open', () => {
    const { context } = enqueueAll(emptyContext({ concurrency: 3, queueCapacity: 1 }), ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(queued(context)).toEqual(['run-d']);
    expect(waiting(context)).toEqual(['run-e', 'run-f']);
    const afterA = end(context, 'a');
    // d starts, e is admitted and... the queue has room for one, so f keeps waiting.
    expect(spawnedRuns(afterA).map((run) => run.runId)).toEqual(['run-d']);
    expect(queued(afterA.context)).toEqual(['run-e']);
    expect(waiting(afterA.context)).toEqual(['run-f']);
  });

  it.each([
    ['queued', ['a', 'b', 'x'], 'run-x'],
    ['waiting', ['a', 'b', 'c', 'd', 'e', 'x'], 'run-x'],
    ['active', ['x'], 'run-x'],
  ] as const)('de-duplicates a child whose run is %s: same run id, deduplicated, nothing published', (_where, children, runId) => {
    const { context } = enqueueAll(emptyContext({ concurrency: 1, queueCapacity: 4 }), children);
    const again = planEnqueue(context, { ...request('x'), requestId: 'req-x-2', runId: 'run-x-2' });
    expect(again.effects).toEqual([{ kind: 'enqueued', requestId: 'req-x-2', runId, deduplicated: true }]);
    expect(again.context).toBe(context);
    expect(findRunOfChild(context, 'x')).toBe(runId);
  });

  it('a child can run again once its previous run ended', () => {
    const { context } = enqueueAll(emptyContext(), ['x']);
    const ended = end(context, 'x');
    const again = planEnqueue(ended.context, { ...request('x'), runId: 'run-x-2' });
    expect(kinds(again)).toEqual(['started', 'enqueued', 'spawn']);
    expect(findRunOfChild(again.context, 'x')).toBe('run-x-2');
  });

  it('rejects enqueues once stopping', () => {
    const stopping = planStop(emptyContext(), 'drain').context;
    const plan = planEnqueue(stopping, request('a'));
    expect(plan.effects).toEqual([{ kind: 'rejected', requestId: 'req-a' }]);
    expect(plan.context).toBe(stopping);
  });
});

describe('planCancel', () => {
  const busy = () => enqueueAll(emptyContext({ concurrency: 1, perParentConcurrency: 1, queueCapacity: 2 }), ['a', 'b', 'c', 'd']).context;

  it('a queued run is spawned with its cancel request and is not counted toward running', () => {
    const context = busy();
    const plan = planCancel(context, new Set(['b']), 'parent');
    expect(spawnedRuns(plan)).toEqual([{ runId: 'run-b', slot: 'job-1', cancel: 'parent' }]);
    expect(effectsOf(plan, 'spawn')[0]?.input.cancelRequest).toEqual({ reason: 'parent' });
    expect(plan.context.active['job-1']?.counted).toBe(false);
    expect(plan.context.running).toBe(1);
    expect(plan.context.perParent).toEqual({ p1: 1 });
    expect(queued(plan.context)).not.toContain('run-b');
    expect(queued(plan.context)[0]).toBe('run-c');
    expect(effectsOf(plan, 'cancelJob')).toEqual([]);

    // Its end frees nothing it never took, and starts nothing over the cap.
    const ended = planJobEnd(plan.context, 'job-1');
    expect(ended.context.running).toBe(1);
    expect(ended.context.perParent).toEqual({ p1: 1 });
    expect(spawnedRuns(ended)).toEqual([]);
    // The queue room it left has admitted the waiting d by now.
    expect(queued(ended.context)).toEqual(['run-c', 'run-d']);
    expect(waiting(ended.context)).toEqual([]);
  });

  it('a waiting enqueue is resolved (started + enqueued), then spawned cancelled', () => {
    const context = busy();
    const plan = planCancel(context, new Set(['d']), 'user');
    expect(kinds(plan)).toEqual(['started', 'enqueued', 'spawn']);
    expect(effectsOf(plan, 'enqueued')).toEqual([{ kind: 'enqueued', requestId: 'req-d', runId: 'run-d', deduplicated: false }]);
    expect(spawnedRuns(plan)).toEqual([{ runId: 'run-d', slot: 'job-1', cancel: 'user' }]);
    expect(waiting(plan.context)).toEqual([]);
    expect(queued(plan.context)).toEqual(['run-b', 'run-c']);
  });

  it('an active run gets job.cancel (cancelJob) and stays active until it ends', () => {
    const context = busy();
    const plan = planCancel(context, new Set(['a']), 'user');
    expect(plan.effects).toEqual([{ kind: 'cancelJob', slot: 'job-0', reason: 'user' }]);
    expect(activeRuns(plan.context)).toEqual(['run-a']);
    expect(plan.context.running).toBe(1);
  });

  it('a run already cancelled while queued is not sent job.cancel again', () => {
    const context = planCancel(busy(), new Set(['b']), 'user').context;
    expect(planCancel(context, new Set(['b']), 'user').effects).toEqual([]);
  });

  it('cancels several children at once and ignores unknown ones', () => {
    const plan = planCancel(busy(), new Set(['a', 'b', 'd', 'nope']), 'parent');
    expect(spawnedRuns(plan).map((run) => [run.runId, run.cancel])).toEqual([
      ['run-b', 'parent'],
      ['run-d', 'parent'],
    ]);
    expect(effectsOf(plan, 'cancelJob')).toEqual([{ kind: 'cancelJob', slot: 'job-0', reason: 'parent' }]);
    expect(planCancel(busy(), new Set(['nope']), 'user').effects).toEqual([]);
  });
});

describe('planStop', () => {
  const busy = () => enqueueAll(emptyContext({ concurrency: 2, queueCapacity: 1 }), ['a', 'b', 'c', 'd']).context;

  it('drain: cancels queued and waiting runs (shutdown), lets running ones finish', () => {
    const plan = planStop(busy(), 'drain');
    expect(plan.context.stopMode).toBe('drain');
    expect(spawnedRuns(plan).map((run) => [run.runId, run.cancel])).toEqual([
      ['run-c', 'shutdown'],
      ['run-d', 'shutdown'],
    ]);
    expect(effectsOf(plan, 'cancelJob')).toEqual([]);
    expect(queued(plan.context)).toEqual([]);
    expect(waiting(plan.context)).toEqual([]);
    expect(plan.context.running).toBe(2);
  });

  it('cancel: also sends job.cancel (shutdown) to every running job', () => {
    const plan = planStop(busy(), 'cancel');
    expect(plan.context.stopMode).toBe('cancel');
    expect(effectsOf(plan, 'cancelJob')).toEqual([
      { kind: 'cancelJob', slot: 'job-0', reason: 'shutdown' },
      { kind: 'cancelJob', slot: 'job-1', reason: 'shutdown' },
    ]);
    expect(spawnedRuns(plan).map((run) => run.runId)).toEqual(['run-c', 'run-d']);
  });

  it('a stopping scheduler starts nothing new when a job ends, and becomes idle', () => {
    let context = planStop(busy(), 'drain').context;
    for (const slot of Object.keys(context.active)) {
      const plan = planJobEnd(context, slot);
      expect(effectsOf(plan, 'spawn')).toEqual([]);
      context = plan.context;
    }
    expect(isIdle(context)).toBe(true);
    expect(context.running).toBe(0);
    expect(context.perParent).toEqual({});
  });
});

describe('planJobEnd', () => {
  it('frees the slot and the per-parent count, stops the actor, then dispatches the next run', () => {
    const { context } = enqueueAll(emptyContext({ concurrency: 1 }), [
      ['a', 'A'],
      ['b', 'B'],
    ]);
    const plan = planJobEnd(context, 'job-0');
    expect(plan.ended?.runId).toBe('run-a');
    expect(plan.effects[0]).toEqual({ kind: 'stopJob', slot: 'job-0' });
    expect(spawnedRuns(plan)).toEqual([{ runId: 'run-b', slot: 'job-0', cancel: undefined }]);
    expect(plan.context.perParent).toEqual({ B: 1 });
    expect(plan.context.running).toBe(1);
    expect(plan.context.activeByChild).toEqual({ b: 'job-0' });
  });

  it('an unknown slot changes nothing', () => {
    const { context } = enqueueAll(emptyContext(), ['a']);
    const plan = planJobEnd(context, 'job-42');
    expect(plan.effects).toEqual([]);
    expect(plan.context).toBe(context);
    expect(plan.ended).toBeUndefined();
  });

  it('a slot ended twice is only freed once', () => {
    const { context } = enqueueAll(emptyContext(), ['a']);
    const once = planJobEnd(context, 'job-0');
    const twice = planJobEnd(once.context, 'job-0');
    expect(twice.effects).toEqual([]);
    expect(twice.context.freeSlots).toEqual(['job-0']);
    expect(twice.context.running).toBe(0);
  });

  it('recycles slot ids: 1000 sequential jobs at concurrency 2 use at most 3 ids', () => {
    let context = emptyContext({ concurrency: 2, queueCapacity: 2000 });
    context = enqueueAll(
      context,
      Array.from({ length: 1000 }, (_, i) => `c${i}`),
    ).context;
    const seen = new Set<string>();
    let ended = 0;
    while (!isIdle(context)) {
      const slot = Object.keys(context.active).sort()[0] as string;
      seen.add(slot);
      context = planJobEnd(context, slot).context;
      ended++;
      expect(context.running).toBeLessThanOrEqual(2);
    }
    expect(ended).toBe(1000);
    expect(context.slotCount).toBeLessThanOrEqual(3);
    expect(seen.size).toBeLessThanOrEqual(3);
    expect(context.freeSlots.length).toBe(context.slotCount);
  });

  it('recycles slot ids with interleaved enqueue/end too', () => {
    let context = emptyContext({ concurrency: 2, queueCapacity: 4 });
    for (let i = 0; i < 1000; i++) {
      context = planEnqueue(context, request(`c${i}`)).context;
      if (Object.keys(context.active).length === 2) context = planJobEnd(context, context.activeByChild[`c${i - 1}`] ?? 'job-0').context;
    }
    expect(context.slotCount).toBeLessThanOrEqual(3);
  });
});

describe('isIdle / childrenInFlight', () => {
  it('is idle only with nothing queued, waiting or active', () => {
    const empty = emptyContext({ concurrency: 1, queueCapacity: 1 });
    expect(isIdle(empty)).toBe(true);
    const { context } = enqueueAll(empty, ['a', 'b', 'c']);
    expect(isIdle(context)).toBe(false);
    expect([...childrenInFlight(context)].sort()).toEqual(['a', 'b', 'c']);
    const onlyWaiting = emptyContext({ concurrency: 1, queueCapacity: 1 });
    onlyWaiting.waiting.push(request('w'));
    expect(isIdle(onlyWaiting)).toBe(false);
    const onlyQueued = emptyContext({ concurrency: 1, queueCapacity: 1 });
    onlyQueued.queue.push(request('q'));
    expect(isIdle(onlyQueued)).toBe(false);
    const onlyActive = planStop(enqueueAll(emptyContext(), ['a']).context, 'drain').context;
    expect(queued(onlyActive)).toEqual([]);
    expect(isIdle(onlyActive)).toBe(false);
    expect(isIdle(planJobEnd(onlyActive, 'job-0').context)).toBe(true);
  });
});

describe('scheduler plan invariants (seeded random operations)', () => {
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

  function checkInvariants(context: SchedulerContext): void {
    const active = Object.values(context.active);
    const counted = active.filter((run) => run.counted);
    expect(context.running).toBe(counted.length);
    expect(context.running).toBeLessThanOrEqual(context.concurrency);
    const perParent: Record<string, number> = {};
    for (const run of counted) perParent[run.job.parentSessionId] = (perParent[run.job.parentSessionId] ?? 0) + 1;
    expect(context.perParent).toEqual(perParent);
    for (const n of Object.values(perParent)) expect(n).toBeLessThanOrEqual(context.perParentConcurrency);
    expect(context.queue.length).toBeLessThanOrEqual(context.queueCapacity);
    const children = [...context.queue, ...context.waiting, ...active].map((run) => run.job.childSessionId);
    expect(new Set(children).size).toBe(children.length);
    for (const [slot, run] of Object.entries(context.active)) {
      expect(run.slot).toBe(slot);
      expect(context.activeByChild[run.job.childSessionId]).toBe(slot);
      expect(context.freeSlots).not.toContain(slot);
    }
    expect(Object.keys(context.activeByChild).length).toBe(active.length);
    for (const run of active) expect(context.slotOfRun[run.runId]).toBe(run.slot);
    expect(Object.keys(context.slotOfRun).length).toBe(active.length);
    // Every slot id ever created is either active or free (isIdle relies on it).
    expect(context.slotCount).toBe(active.length + context.freeSlots.length);
    for (const run of context.queue) expect(findRunOfChild(context, run.job.childSessionId)).toBe(run.runId);
    for (const run of context.waiting) expect(findRunOfChild(context, run.job.childSessionId)).toBe(run.runId);
    // Work-conserving: while accepting, no queued run could start right now.
    if (context.stopMode === undefined && context.running < context.concurrency) {
      for (const run of context.queue) expect(context.perParent[run.job.parentSessionId] ?? 0).toBe(context.perParentConcurrency);
    }
  }

  it.each([1, 2, 3, 4, 5, 6, 7, 8])('seed %i: limits hold, every request resolves once, every started run spawns once', (seed) => {
    const random = rng(seed);
    let context = emptyContext({ concurrency: 3, perParentConcurrency: 2, queueCapacity: 3 });
    const resolved = new Map<string, number>();
    const started = new Map<string, number>();
    const spawnedRunIds = new Map<string, number>();
    const requested = new Set<string>();
    const bump = (map: Map<string, number>, key: string) => map.set(key, (map.get(key) ?? 0) + 1);
    const apply = (plan: Plan): void => {
      for (const effect of plan.effects) {
        if (effect.kind === 'enqueued') bump(resolved, effect.requestId);
        if (effect.kind === 'rejected') bump(resolved, effect.requestId);
        if (effect.kind === 'started') bump(started, effect.run.runId);
        if (effect.kind === 'spawn') {
          // sub_session_started of a run comes before its job actor exists.
          expect(started.has(effect.input.runId), effect.input.runId).toBe(true);
          bump(spawnedRunIds, effect.input.runId);
        }
      }
      context = plan.context;
      checkInvariants(context);
    };
    let next = 0;
    let maxWaiting = 0;
    for (let i = 0; i < 400; i++) {
      const roll = random();
      const child = `c${Math.floor(random() * 30)}`;
      if (roll < 0.6) {
        const id = `${child}-${next++}`;
        requested.add(`req-${id}`);
        apply(
          planEnqueue(context, {
            requestId: `req-${id}`,
            runId: `run-${id}`,
            job: { parentSessionId: `p${Math.floor(random() * 3)}`, childSessionId: child, model: 'm' },
          }),
        );
      } else if (roll < 0.85) {
        const slots = Object.keys(context.active);
        const slot = slots[Math.floor(random() * slots.length)];
        if (slot !== undefined) apply(planJobEnd(context, slot));
      } else if (roll < 0.98) {
        apply(planCancel(context, new Set([child]), 'user'));
      } else if (context.stopMode === undefined && i > 300) {
        apply(planStop(context, random() < 0.5 ? 'drain' : 'cancel'));
      }
      maxWaiting = Math.max(maxWaiting, context.waiting.length);
    }
    expect(maxWaiting).toBeGreaterThan(0);
    // Let everything finish.
    if (context.stopMode === undefined) apply(planStop(context, 'drain'));
    for (let guard = 0; !isIdle(context) && guard < 1000; guard++) apply(planJobEnd(context, Object.keys(context.active)[0] as string));
    expect(isIdle(context)).toBe(true);

    for (const id of requested) expect(resolved.get(id), id).toBe(1);
    for (const [runId, times] of started) {
      expect(times, runId).toBe(1);
      expect(spawnedRunIds.get(runId), runId).toBe(1);
    }
    for (const runId of spawnedRunIds.keys()) expect(started.has(runId), runId).toBe(true);
  });
});
