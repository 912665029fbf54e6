import type { SproutClock } from '../clock.js';

interface Entry {
  key: string;
  due: number;
  interval: number;
  /** Insertion order: entries due at the same time beat in the order they were added. */
  order: number;
  beat: () => void;
  live: boolean;
}

/**
 * The heartbeats of every running run on one timer of the injected clock (instead of one XState
 * delayed event per run): a binary heap of due times, one `clock.setTimeout` armed for the
 * earliest. A run beats once when added, then every `interval` after the time it last beat.
 * Adding and removing are O(log n); a round of n heartbeats is n heap operations and no
 * allocation beyond the heartbeat itself. Runs on a simulated clock in tests.
 *
 * @example
 * const wheel = new HeartbeatWheel(clock);
 * wheel.add('run-1', 5000, () => publishHeartbeat('run-1')); // beats now, then every 5 s
 * wheel.remove('run-1');
 */
export class HeartbeatWheel {
  readonly #clock: SproutClock;
  readonly #heap: Entry[] = [];
  readonly #byKey = new Map<string, Entry>();
  #order = 0;
  #timer: unknown;
  #armedFor = Number.POSITIVE_INFINITY;

  constructor(clock: SproutClock) {
    this.#clock = clock;
  }

  /** How many runs are on the wheel. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Puts a run on the wheel: `beat` runs now, then every `interval` ms until {@link remove}. */
  add(key: string, interval: number, beat: () => void): void {
    this.remove(key);
    const entry: Entry = { key, due: this.#clock.now() + interval, interval, order: this.#order++, beat, live: true };
    this.#byKey.set(key, entry);
    this.#push(entry);
    beat();
    this.#arm();
  }

  /** Takes a run off the wheel (no further beats). */
  remove(key: string): void {
    const entry = this.#byKey.get(key);
    if (!entry) return;
    entry.live = false;
    this.#byKey.delete(key);
    // Removed entries stay in the heap until they come up (lazy deletion); when none is live, drop the timer.
    if (this.#byKey.size === 0) {
      this.#heap.length = 0;
      this.#disarm();
    }
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    for (;;) {
      const top = this.#heap[0];
      if (!top || top.due > now) break;
      this.#pop();
      if (!top.live) continue;
      top.due = now + top.interval;
      top.order = this.#order++;
      this.#push(top);
      top.beat();
    }
    this.#arm();
  }

  #arm(): void {
    while (this.#heap[0] && !this.#heap[0].live) this.#pop();
    const top = this.#heap[0];
    if (!top) return this.#disarm();
    if (this.#timer !== undefined && this.#armedFor <= top.due) return;
    this.#disarm();
    this.#armedFor = top.due;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), Math.max(0, top.due - this.#clock.now()));
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Number.POSITIVE_INFINITY;
  }

  #before(a: Entry, b: Entry): boolean {
    return a.due < b.due || (a.due === b.due && a.order < b.order);
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(heap[i] as Entry, heap[parent] as Entry)) break;
      [heap[i], heap[parent]] = [heap[parent] as Entry, heap[i] as Entry];
      i = parent;
    }
  }

  #pop(): void {
    const heap = this.#heap;
    const last = heap.pop();
    if (heap.length === 0 || !last) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < heap.length && this.#before(heap[left] as Entry, heap[best] as Entry)) best = left;
      if (right < heap.length && this.#before(heap[right] as Entry, heap[best] as Entry)) best = right;
      if (best === i) break;
      [heap[i], heap[best]] = [heap[best] as Entry, heap[i] as Entry];
      i = best;
    }
  }
}
