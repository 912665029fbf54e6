/**
 * A simulated clock for large timer counts. Same contract as XState's `SimulatedClock`
 * (`setTimeout` / `clearTimeout` / `now` / `set` / `increment`; timers due at the new time fire
 * in due order, including zero-delay timers scheduled while firing), but timers live in a binary
 * heap: `increment` costs O(k log n) for k due timers. XState's `SimulatedClock` re-sorts every
 * pending timer whenever one is added or cleared during a flush, which is quadratic when 10,000
 * heartbeat timers re-arm themselves in one round.
 */
import type { SproutClock } from '../../src/clock.js';

interface Timer {
  id: number;
  due: number;
  fn: (...args: unknown[]) => void;
}

export class HeapClock implements SproutClock {
  #now = 0;
  #nextId = 1;
  readonly #heap: Timer[] = [];
  readonly #live = new Set<number>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const timer: Timer = { id: this.#nextId++, due: this.#now + Math.max(0, timeout), fn };
    this.#live.add(timer.id);
    this.#push(timer);
    return timer.id;
  }

  clearTimeout(id: number): void {
    this.#live.delete(id);
  }

  /** Pending timers. */
  get pending(): number {
    return this.#live.size;
  }

  set(time: number): void {
    if (time < this.#now) throw new Error('Unable to travel back in time');
    this.#now = time;
    for (;;) {
      const top = this.#heap[0];
      if (top === undefined || top.due > this.#now) return;
      this.#pop();
      if (!this.#live.delete(top.id)) continue;
      top.fn();
    }
  }

  increment(ms: number): void {
    this.set(this.#now + ms);
  }

  #less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.id < b.id);
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let smallest = i;
      if (l < heap.length && this.#less(heap[l]!, heap[smallest]!)) smallest = l;
      if (r < heap.length && this.#less(heap[r]!, heap[smallest]!)) smallest = r;
      if (smallest === i) return;
      [heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!];
      i = smallest;
    }
  }
}
