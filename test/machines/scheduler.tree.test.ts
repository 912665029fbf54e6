import { describe, expect, it } from 'vitest';
import type { LineageLink, SchedulerContext, WaitingEnqueue } from '../../machines/scheduler.events.js';
import {
  cancellableBelow,
  planCancel,
  planCancelTree,
  planEnqueue,
  planJobEnd,
  planResume,
  planYield,
} from '../../machines/scheduler.plan.js';
import { HaltedSessions, isReachedBy, isUnderHalted, lineageOf } from '../../machines/scheduler.tree.js';
import { ROOT_PARENT, type OnParentEnd } from '../../machines/spawn-job.events.js';
import { effectsOf, emptyContext, kinds, spawnedRuns } from './scheduler.fixtures.js';

/** An enqueue of `child` under the first session of `lineage` (ancestors parent first). */
function treeRequest(child: string, lineage: readonly (string | [string, true])[], onParentEnd?: OnParentEnd): WaitingEnqueue {
  const links: LineageLink[] = lineage.map((entry) =>
    typeof entry === 'string' ? { sessionId: entry, abandons: false } : { sessionId: entry[0], abandons: true },
  );
  return {
    requestId: `req-${child}`,
    runId: `run-${child}`,
    job: {
      parentSessionId: links[0]?.sessionId ?? ROOT_PARENT,
      childSessionId: child,
      model: 'm',
      ...(onParentEnd ? { onParentEnd } : {}),
    },
    lineage: links,
  };
}

const slotOf = (context: SchedulerContext, child: string): string => {
  const slot = context.activeByChild[child];
  if (slot === undefined) throw new Error(`${child} is not active`);
  return slot;
};

describe('waiting runs give their slot back (planYield / planResume)', () => {
  it('a yield frees the slot for a queued run; the resume takes the next free slot ahead of the queue', () => {
    const context = emptyContext({ concurrency: 1 });
    planEnqueue(context, treeRequest('parent', ['root']));
    planEnqueue(context, treeRequest('kid', ['parent', 'root']));
    planEnqueue(context, treeRequest('other', ['root']));
    expect(context.running).toBe(1);
    expect(context.queue.length).toBe(2);

    const yielded = planYield(context, 'run-parent');
    expect(kinds(yielded)).toEqual(['waitJob', 'spawn']);
    expect(spawnedRuns(yielded).map((run) => run.runId)).toEqual(['run-kid']);
    expect(context).toMatchObject({ running: 1, waitingRuns: 1 });
    expect(context.active[slotOf(context, 'parent')]).toMatchObject({ counted: false, waiting: true });
    // A second yield of a waiting run changes nothing.
    expect(planYield(context, 'run-parent').effects).toEqual([]);

    // The wait is satisfied while the kid still holds the only slot: the parent waits for a slot.
    const early = planResume(context, 'run-parent');
    expect(early.effects).toEqual([]);
    expect(context.resuming).toEqual([slotOf(context, 'parent')]);
    // The kid ends: its slot goes to the resuming parent, not to the queued `other`.
    const ended = planJobEnd(context, slotOf(context, 'kid'));
    expect(kinds(ended)).toEqual(['stopJob', 'resumeJob', 'resumed']);
    expect(effectsOf(ended, 'resumed')).toEqual([{ kind: 'resumed', runId: 'run-parent' }]);
    expect(context).toMatchObject({ running: 1, waitingRuns: 0, resuming: [] });
    expect(context.queue.length).toBe(1);
    // Resuming a run that holds its slot (or has ended) is answered at once.
    expect(planResume(context, 'run-parent').effects).toEqual([{ kind: 'resumed', runId: 'run-parent' }]);
    expect(planResume(context, 'run-gone').effects).toEqual([{ kind: 'resumed', runId: 'run-gone' }]);
  });

  it('per-parent limits count only runs that are not waiting; a root run counts toward no parent', () => {
    const context = emptyContext({ concurrency: 4, perParentConcurrency: 1 });
    planEnqueue(context, treeRequest('root', []));
    planEnqueue(context, treeRequest('a', ['root']));
    planEnqueue(context, treeRequest('b', ['root']));
    expect(context.running).toBe(2); // root's own run + a; b waits for root's per-parent slot
    expect(context.perParent).toEqual({ root: 1 });
    planYield(context, 'run-a');
    expect(context.activeByChild.b).toBeDefined();
    expect(context.perParent).toEqual({ root: 1 });
    // a's wait is over, but b holds root's only per-parent slot: a waits until b ends.
    planResume(context, 'run-a');
    expect(context.resuming).toHaveLength(1);
    planJobEnd(context, slotOf(context, 'b'));
    expect(context.resuming).toEqual([]);
    expect(context.active[slotOf(context, 'a')]).toMatchObject({ counted: true, waiting: false });
  });

  it('a waiting run that ends (cancelled meanwhile) leaves the counts right', () => {
    const context = emptyContext({ concurrency: 2 });
    planEnqueue(context, treeRequest('p', ['root']));
    planYield(context, 'run-p');
    const cancel = planCancel(context, new Set(['p']), 'user');
    expect(effectsOf(cancel, 'cancelJob')).toHaveLength(1);
    planResume(context, 'run-p');
    planJobEnd(context, slotOf(context, 'p'));
    expect(context).toMatchObject({ running: 0, waitingRuns: 0, resuming: [], perParent: {} });
  });

  it('no starvation is ever reported on a well-formed tree of yields', () => {
    const context = emptyContext({ concurrency: 1 });
    const effects = [];
    effects.push(...planEnqueue(context, treeRequest('a', ['root'])).effects);
    effects.push(...planEnqueue(context, treeRequest('b', ['a', 'root'])).effects);
    effects.push(...planYield(context, 'run-a').effects);
    effects.push(...planResume(context, 'run-a').effects);
    effects.push(...planJobEnd(context, slotOf(context, 'b')).effects);
    expect(effects.filter((effect) => effect.kind === 'starved')).toEqual([]);
  });
});

describe("a parent's end reaches its subtree (halts)", () => {
  it('a user cancel halts the session and cancels what is in flight below it, in one plan', () => {
    const context = emptyContext({ concurrency: 2 });
    planEnqueue(context, treeRequest('c', ['root']));
    planEnqueue(context, treeRequest('g1', ['c', 'root']));
    planEnqueue(context, treeRequest('g2', ['c', 'root'])); // queued
    planEnqueue(context, treeRequest('gg', ['g2', 'c', 'root'])); // queued, two levels below
    const plan = planCancel(context, new Set(['c']), 'user');
    expect(effectsOf(plan, 'cancelJob').map((effect) => effect.reason)).toEqual(['user', 'parent']);
    expect(spawnedRuns(plan).map((run) => [run.runId, run.cancel])).toEqual([
      ['run-g2', 'parent'],
      ['run-gg', 'parent'],
    ]);
    for (const id of ['c', 'g1', 'g2', 'gg']) expect(context.halted.has(id)).toBe(true);
    expect(context.halted.has('root')).toBe(false);
  });

  it('abandon: the run itself survives its parent, and shields its own subtree', () => {
    const context = emptyContext({ concurrency: 8 });
    planEnqueue(context, treeRequest('c', ['root']));
    planEnqueue(context, treeRequest('stay', ['c', 'root'], 'abandon'));
    planEnqueue(context, treeRequest('below', [['stay', true], 'c', 'root']));
    planEnqueue(context, treeRequest('go', ['c', 'root']));
    const plan = planCancel(context, new Set(['c']), 'user');
    expect(effectsOf(plan, 'cancelJob').map((effect) => effect.slot)).toEqual([slotOf(context, 'c'), slotOf(context, 'go')]);
    // cancelTree reaches every run below, whatever its policy.
    const tree = planCancelTree(context, 'root');
    expect(tree.cancelled).toBe(2); // stay and below (c and go are already cancelling)
  });

  it("a run's error halts its subtree at its end; a completed end does not", () => {
    const context = emptyContext({ concurrency: 8 });
    planEnqueue(context, treeRequest('c', ['root']));
    planEnqueue(context, treeRequest('g', ['c', 'root']));
    const completed = planJobEnd(context, slotOf(context, 'c'), false);
    expect(effectsOf(completed, 'cancelJob')).toEqual([]);
    planEnqueue(context, treeRequest('c2', ['root']));
    planEnqueue(context, treeRequest('g2', ['c2', 'root']));
    const failed = planJobEnd(context, slotOf(context, 'c2'), true);
    expect(effectsOf(failed, 'cancelJob')).toEqual([{ kind: 'cancelJob', slot: slotOf(context, 'g2'), reason: 'parent' }]);
    expect(context.halted.has('c2')).toBe(true);
  });

  it('a run queued under a halted ancestor is announced and spawned cancelled (reason parent); a new run of the session clears its halt', () => {
    const context = emptyContext({ concurrency: 8 });
    planCancelTree(context, 'c');
    expect(context.halted.has('c')).toBe(true);
    const late = planEnqueue(context, treeRequest('late', ['c', 'root']));
    expect(kinds(late)).toEqual(['started', 'enqueued', 'spawn']);
    expect(spawnedRuns(late)).toEqual([expect.objectContaining({ runId: 'run-late', cancel: 'parent' })]);
    expect(context.running).toBe(0);
    // Two levels below a halted session too.
    expect(spawnedRuns(planEnqueue(context, treeRequest('deep', ['x', 'c', 'root'])))[0]?.cancel).toBe('parent');
    // Not through an ancestor that abandons its parent.
    expect(spawnedRuns(planEnqueue(context, treeRequest('safe', [['y', true], 'c', 'root'])))[0]?.cancel).toBeUndefined();
    // c runs again: its halt is cleared and its new children run.
    planEnqueue(context, treeRequest('c', ['root']));
    expect(context.halted.has('c')).toBe(false);
    expect(spawnedRuns(planEnqueue(context, treeRequest('fresh', ['c', 'root'])))[0]?.cancel).toBeUndefined();
    expect(cancellableBelow(context, 'root').sort()).toEqual(['c', 'fresh', 'safe']);
  });
});

describe('tree helpers', () => {
  it('HaltedSessions is bounded: the oldest marks go first, a re-added mark is the newest', () => {
    const halted = new HaltedSessions(3);
    for (const id of ['a', 'b', 'c']) halted.add(id);
    halted.add('a');
    halted.add('d');
    expect(halted.toJSON()).toEqual(['c', 'a', 'd']);
    expect(halted.size).toBe(3);
    expect(halted.clone().toJSON()).toEqual(['c', 'a', 'd']);
  });

  it('lineageOf defaults to the parent alone, and to nothing for a root run', () => {
    expect(lineageOf({ job: { parentSessionId: 'p', childSessionId: 'c', model: 'm' } })).toEqual([{ sessionId: 'p', abandons: false }]);
    expect(lineageOf({ job: { parentSessionId: ROOT_PARENT, childSessionId: 'r', model: 'm' } })).toEqual([]);
  });

  it('isReachedBy / isUnderHalted follow the abandon links', () => {
    const run = treeRequest('g', ['c', ['b', true], 'root']);
    expect(isReachedBy(run, 'c', false)).toBe(true);
    expect(isReachedBy(run, 'b', false)).toBe(true);
    expect(isReachedBy(run, 'root', false)).toBe(false); // b abandons root
    expect(isReachedBy(run, 'root', true)).toBe(true);
    expect(isReachedBy(treeRequest('g', ['c'], 'abandon'), 'c', false)).toBe(false);
    const halted = new HaltedSessions();
    halted.add('root');
    expect(isUnderHalted(halted, lineageOf(run))).toBe(false);
    halted.add('b');
    expect(isUnderHalted(halted, lineageOf(run))).toBe(true);
  });
});
