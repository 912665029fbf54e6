import { describe, expect, it } from 'vitest';
import type { QueuedRun, WaitingEnqueue } from '../../machines/scheduler.events.js';
import { RunQueue, WaitingList } from '../../machines/scheduler.queue.js';
import { request } from './scheduler.fixtures.js';

const run = (child: string, parent = 'p1'): QueuedRun => {
  const { runId, job } = request(child, parent);
  return { runId, job };
};
const ids = (list: Iterable<{ runId: string }>): string[] => [...list].map((entry) => entry.runId);
const under = (limit: number, counts: Record<string, number>) => (parentId: string) => (counts[parentId] ?? 0) < limit;

describe('WaitingList', () => {
  it('is a FIFO with removal by identity, lookups by child and run, and array-like reading', () => {
    const list = new WaitingList<WaitingEnqueue>();
    const [a, b, c] = [request('a'), request('b'), request('c')];
    for (const entry of [a, b, c]) list.push(entry);
    expect(list.length).toBe(3);
    expect(list.ofChild('b')).toBe(b);
    expect(list.ofRun('run-c')).toBe(c);
    expect(list.remove(b)).toBe(true);
    expect(list.remove(b)).toBe(false);
    expect(list.remove({ ...c })).toBe(false);
    expect(list.ofChild('b')).toBeUndefined();
    expect(list.map((entry) => entry.runId)).toEqual(['run-a', 'run-c']);
    expect(JSON.parse(JSON.stringify({ list }))).toEqual({ list: [JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(c))] });
    expect(list.shift()).toBe(a);
    expect(list.shift()).toBe(c);
    expect(list.shift()).toBeUndefined();
    expect(list.length).toBe(0);
  });

  it('stays exact through many removals and front shifts (compaction)', () => {
    const list = new WaitingList<WaitingEnqueue>();
    const model: WaitingEnqueue[] = [];
    for (let i = 0; i < 5000; i++) {
      const entry = request(`c${i}`);
      list.push(entry);
      model.push(entry);
      if (i % 3 === 0) expect(list.shift()).toBe(model.shift());
      if (i % 5 === 0 && model.length > 2) {
        const [victim] = model.splice(model.length >> 1, 1);
        expect(list.remove(victim as WaitingEnqueue)).toBe(true);
      }
    }
    expect(list.length).toBe(model.length);
    expect(list.toArray()).toEqual(model);
    const copy = list.clone();
    expect(copy.shift()).toBe(model[0]);
    expect(list.toArray()).toEqual(model);
  });
});

describe('RunQueue', () => {
  it('takes the earliest run whose parent can start; a parent at its limit does not block the others', () => {
    const queue = new RunQueue<QueuedRun>();
    for (const [child, parent] of [
      ['a1', 'A'],
      ['a2', 'A'],
      ['b1', 'B'],
      ['a3', 'A'],
      ['c1', 'C'],
    ] as const)
      queue.push(run(child, parent));
    const counts: Record<string, number> = { A: 1 };
    const canStart = under(1, counts);
    expect(queue.take(canStart)?.runId).toBe('run-b1');
    counts.B = 1;
    expect(queue.take(canStart)?.runId).toBe('run-c1');
    counts.C = 1;
    expect(queue.take(canStart)).toBeUndefined();
    expect(ids(queue)).toEqual(['run-a1', 'run-a2', 'run-a3']);
    // A stays set aside until one of its runs ends.
    counts.A = 0;
    expect(queue.take(canStart)).toBeUndefined();
    queue.unblock('A');
    expect(queue.take(canStart)?.runId).toBe('run-a1');
  });

  it('an unblocked parent whose first run is older than every other queued run goes first (global FIFO)', () => {
    const queue = new RunQueue<QueuedRun>();
    queue.push(run('a2', 'A'));
    queue.push(run('c1', 'C'));
    const counts: Record<string, number> = { A: 1, C: 1 };
    expect(queue.take(under(1, counts))).toBeUndefined();
    counts.A = 0;
    counts.C = 0;
    queue.unblock('A');
    queue.unblock('C');
    expect(queue.take(under(1, counts))?.runId).toBe('run-a2');
  });

  it('a parent set aside that gets a new run keeps its place by its first run', () => {
    const queue = new RunQueue<QueuedRun>();
    const counts: Record<string, number> = { A: 1 };
    queue.push(run('a1', 'A'));
    queue.push(run('b1', 'B'));
    expect(queue.take(under(1, counts))?.runId).toBe('run-b1');
    counts.B = 1;
    queue.push(run('b2', 'B'));
    queue.push(run('a2', 'A'));
    counts.A = 0;
    counts.B = 0;
    queue.unblock('B');
    queue.unblock('A');
    expect(ids([queue.take(under(1, counts)) as QueuedRun])).toEqual(['run-a1']);
  });

  it('removal from the middle re-keys its parent; the queue keeps the global order', () => {
    const queue = new RunQueue<QueuedRun>();
    const runs = [run('a1', 'A'), run('b1', 'B'), run('a2', 'A'), run('b2', 'B')];
    for (const entry of runs) queue.push(entry);
    expect(queue.remove(runs[0] as QueuedRun)).toBe(true);
    expect(queue.remove(runs[0] as QueuedRun)).toBe(false);
    expect(queue.length).toBe(3);
    expect(queue.positionOf(runs[1] as QueuedRun)).toBeLessThan(queue.positionOf(runs[2] as QueuedRun) as number);
    const always = () => true;
    expect([1, 2, 3].map(() => queue.take(always)?.runId)).toEqual(['run-b1', 'run-a2', 'run-b2']);
    expect(queue.take(always)).toBeUndefined();
    expect(queue.length).toBe(0);
  });

  it('matches a plain-array model of the rules over many random operations (and its clone too)', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    const queue = new RunQueue<QueuedRun>();
    const model: QueuedRun[] = [];
    const counts: Record<string, number> = {};
    const limit = 2;
    let next = 0;
    for (let i = 0; i < 20000; i++) {
      const roll = random();
      if (roll < 0.45) {
        const entry = run(`c${next++}`, `p${Math.floor(random() * 12)}`);
        queue.push(entry);
        model.push(entry);
      } else if (roll < 0.75) {
        const expected = model.find((entry) => (counts[entry.job.parentSessionId] ?? 0) < limit);
        const taken = queue.take(under(limit, counts));
        expect(taken).toBe(expected);
        if (taken) {
          model.splice(model.indexOf(taken), 1);
          counts[taken.job.parentSessionId] = (counts[taken.job.parentSessionId] ?? 0) + 1;
        }
      } else if (roll < 0.9) {
        const parents = Object.keys(counts).filter((parent) => (counts[parent] ?? 0) > 0);
        const parent = parents[Math.floor(random() * parents.length)];
        if (parent !== undefined) {
          counts[parent] = (counts[parent] ?? 0) - 1;
          queue.unblock(parent);
        }
      } else if (model.length > 0) {
        const [victim] = model.splice(Math.floor(random() * model.length), 1);
        expect(queue.remove(victim as QueuedRun)).toBe(true);
      }
      expect(queue.length).toBe(model.length);
    }
    expect(ids(queue)).toEqual(ids(model));
    const copy = queue.clone();
    expect(ids(copy)).toEqual(ids(model));
    for (const parent of Object.keys(counts)) counts[parent] = 0;
    const always = () => true;
    const drained: string[] = [];
    for (let entry = copy.take(always); entry; entry = copy.take(always)) drained.push(entry.runId);
    expect(drained).toEqual(ids(model));
    expect(ids(queue)).toEqual(ids(model));
  });
});
