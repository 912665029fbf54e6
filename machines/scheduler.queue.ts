/**
 * The scheduler's mutable run lists: the queue (global FIFO, per-parent FIFOs and the parents that
 * may start a run next) and the waiting enqueues. Every operation is O(1) (amortized), or
 * O(log parents) for choosing the next parent, so starting and ending N runs costs O(N log N) at
 * worst instead of copying a collection per event. Pure data structures: no I/O, no time.
 *
 * Both lists are owned by one scheduler actor (its context factory creates them) and are updated
 * in place by `scheduler.plan.ts`. They read like arrays for snapshot readers and inspectors
 * (`length`, iteration, `map`, `toJSON()` → the runs in order).
 */

/** What the lists need to know of a run. */
export interface ListedRun {
  runId: string;
  job: { parentSessionId: string; childSessionId: string };
}

/** One run in a list. `seq` orders it; `live` turns false when it leaves the list. */
interface Entry<T> {
  value: T;
  seq: number;
  live: boolean;
}

/**
 * A FIFO of entries with O(1) push, O(1) amortized shift and O(1) removal from anywhere: removed
 * entries are only flagged, skipped at the front and compacted away once they are most of the
 * storage.
 */
class EntryFifo<T> {
  #slots: Entry<T>[] = [];
  #head = 0;
  /** Removed entries still stored at or after `#head`. */
  #dead = 0;

  get length(): number {
    return this.#slots.length - this.#head - this.#dead;
  }

  push(entry: Entry<T>): void {
    this.#slots.push(entry);
  }

  /** The first live entry (drops removed ones from the front). */
  peek(): Entry<T> | undefined {
    const slots = this.#slots;
    while (this.#head < slots.length && !(slots[this.#head] as Entry<T>).live) {
      this.#head += 1;
      this.#dead -= 1;
    }
    if (this.#head > 1024 && this.#head * 2 > slots.length) this.#compact();
    return this.#slots[this.#head];
  }

  /** Takes the first live entry out (it turns not live). */
  shift(): Entry<T> | undefined {
    const entry = this.peek();
    if (entry === undefined) return undefined;
    entry.live = false;
    this.#head += 1;
    return entry;
  }

  /** Notes that a live entry of this FIFO was flagged not live (by this FIFO's owner). */
  removed(): void {
    this.#dead += 1;
    if (this.#dead > 32 && this.#dead * 2 > this.#slots.length - this.#head) this.#compact();
  }

  *values(): IterableIterator<T> {
    const slots = this.#slots;
    for (let i = this.#head; i < slots.length; i++) {
      const entry = slots[i] as Entry<T>;
      if (entry.live) yield entry.value;
    }
  }

  #compact(): void {
    const live: Entry<T>[] = [];
    const slots = this.#slots;
    for (let i = this.#head; i < slots.length; i++) if ((slots[i] as Entry<T>).live) live.push(slots[i] as Entry<T>);
    this.#slots = live;
    this.#head = 0;
    this.#dead = 0;
  }
}

/** Array-like reading shared by the run lists (for snapshot readers and inspectors). */
abstract class RunList<T extends ListedRun> implements Iterable<T> {
  protected readonly order = new EntryFifo<T>();
  protected readonly byChild = new Map<string, Entry<T>>();
  protected readonly byRun = new Map<string, Entry<T>>();
  protected seq = 0;

  /** Number of runs in the list. */
  get length(): number {
    return this.order.length;
  }

  [Symbol.iterator](): IterableIterator<T> {
    return this.order.values();
  }

  /** The runs in order, as a new array. */
  toArray(): T[] {
    return [...this.order.values()];
  }

  map<U>(fn: (run: T, index: number) => U): U[] {
    return this.toArray().map(fn);
  }

  /** Serializes as the array of runs in order (what `JSON.stringify` and inspectors show). */
  toJSON(): T[] {
    return this.toArray();
  }

  /** The listed run of a child session, if any. */
  ofChild(childSessionId: string): T | undefined {
    return this.byChild.get(childSessionId)?.value;
  }

  /** The listed run with this run id, if any. */
  ofRun(runId: string): T | undefined {
    return this.byRun.get(runId)?.value;
  }

  /** The order of a listed run (smaller = earlier); `undefined` when not listed. */
  positionOf(run: T): number | undefined {
    const entry = this.byRun.get(run.runId);
    return entry?.value === run ? entry.seq : undefined;
  }

  protected add(value: T, seq: number): Entry<T> {
    const entry: Entry<T> = { value, seq, live: true };
    this.order.push(entry);
    this.byChild.set(value.job.childSessionId, entry);
    this.byRun.set(value.runId, entry);
    return entry;
  }

  /** Forgets an entry that already left `order` (taken from the front or flagged). */
  protected unindex(entry: Entry<T>): void {
    const { value } = entry;
    if (this.byChild.get(value.job.childSessionId) === entry) this.byChild.delete(value.job.childSessionId);
    if (this.byRun.get(value.runId) === entry) this.byRun.delete(value.runId);
  }
}

/**
 * The enqueues waiting for room in the queue, oldest first: O(1) push, shift and removal of any
 * run by child or run id.
 *
 * @example
 * const waiting = new WaitingList<WaitingEnqueue>(); waiting.push(request); waiting.shift() === request; // true
 */
export class WaitingList<T extends ListedRun> extends RunList<T> {
  push(run: T): void {
    this.add(run, this.seq++);
  }

  /** Takes the oldest waiting run out. */
  shift(): T | undefined {
    const entry = this.order.shift();
    if (entry === undefined) return undefined;
    this.unindex(entry);
    return entry.value;
  }

  /** Takes a waiting run out (by identity); false when it is not listed. */
  remove(run: T): boolean {
    const entry = this.byRun.get(run.runId);
    if (entry?.value !== run || !entry.live) return false;
    entry.live = false;
    this.order.removed();
    this.unindex(entry);
    return true;
  }

  /** A copy with the same runs in the same order (for tests and tools that branch a snapshot). */
  clone(): WaitingList<T> {
    const copy = new WaitingList<T>();
    for (const run of this) copy.add(run, this.positionOf(run) as number);
    copy.seq = this.seq;
    return copy;
  }
}

/** The queued runs of one parent, and its place among the parents that may start a run. */
interface ParentLine<T> {
  parentId: string;
  runs: EntryFifo<T>;
  /** In the ready heap, keyed by `key` (never later than the seq of its first run). */
  inHeap: boolean;
  key: number;
}

/**
 * The queue: queued runs in FIFO order, with one FIFO per parent and a min-heap of parents keyed
 * by their first run, so the next run to start — the earliest queued run whose parent is under its
 * limit — is found without scanning runs of parents at their limit. A parent found at its limit is
 * set aside until {@link RunQueue.unblock} (one of its runs ended).
 *
 * @example
 * const queue = new RunQueue<QueuedRun>(); queue.push(run);
 * queue.take((parentId) => (perParent[parentId] ?? 0) < limit); // → run
 */
export class RunQueue<T extends ListedRun> extends RunList<T> {
  readonly #lines = new Map<string, ParentLine<T>>();
  /** Parents that may have a startable run, ordered by `key` (binary min-heap). */
  readonly #heap: ParentLine<T>[] = [];

  push(run: T): void {
    this.#insert(run, this.seq++);
  }

  #insert(run: T, seq: number): void {
    const entry = this.add(run, seq);
    const parentId = run.job.parentSessionId;
    let line = this.#lines.get(parentId);
    if (line === undefined) {
      line = { parentId, runs: new EntryFifo<T>(), inHeap: false, key: entry.seq };
      this.#lines.set(parentId, line);
    }
    line.runs.push(entry);
    // Keyed by its first run (an earlier one when the parent was set aside at its limit).
    if (!line.inHeap) this.#heapPush(line, (line.runs.peek() as Entry<T>).seq);
  }

  /**
   * Takes out the earliest queued run whose parent `canStart`; `undefined` when none can. Parents
   * found unable to start are set aside until {@link unblock}.
   */
  take(canStart: (parentId: string) => boolean): T | undefined {
    for (;;) {
      const line = this.#heap[0];
      if (line === undefined) return undefined;
      const first = line.runs.peek();
      if (first === undefined) {
        this.#heapPop();
        this.#lines.delete(line.parentId);
        continue;
      }
      if (first.seq !== line.key) {
        // Its first run was removed since it was keyed: re-key it (later), keep looking.
        this.#heapPop();
        this.#heapPush(line, first.seq);
        continue;
      }
      this.#heapPop();
      if (!canStart(line.parentId)) continue;
      line.runs.shift();
      this.order.removed();
      this.unindex(first);
      const next = line.runs.peek();
      if (next === undefined) this.#lines.delete(line.parentId);
      else this.#heapPush(line, next.seq);
      return first.value;
    }
  }

  /** A parent may start runs again (one of its runs ended): its queued runs become candidates. */
  unblock(parentId: string): void {
    const line = this.#lines.get(parentId);
    if (line === undefined || line.inHeap) return;
    const first = line.runs.peek();
    if (first === undefined) this.#lines.delete(parentId);
    else this.#heapPush(line, first.seq);
  }

  /** Takes a queued run out (by identity); false when it is not listed. */
  remove(run: T): boolean {
    const entry = this.byRun.get(run.runId);
    if (entry?.value !== run || !entry.live) return false;
    entry.live = false;
    this.order.removed();
    this.unindex(entry);
    const line = this.#lines.get(run.job.parentSessionId);
    if (line !== undefined) {
      line.runs.removed();
      if (!line.inHeap && line.runs.length === 0) this.#lines.delete(line.parentId);
    }
    return true;
  }

  /** A copy with the same runs in the same order (for tests and tools that branch a snapshot). */
  clone(): RunQueue<T> {
    const copy = new RunQueue<T>();
    for (const run of this) copy.#insert(run, this.positionOf(run) as number);
    copy.seq = this.seq;
    return copy;
  }

  #heapPush(line: ParentLine<T>, key: number): void {
    line.key = key;
    line.inHeap = true;
    const heap = this.#heap;
    let i = heap.push(line) - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((heap[parent] as ParentLine<T>).key <= key) break;
      heap[i] = heap[parent] as ParentLine<T>;
      i = parent;
    }
    heap[i] = line;
  }

  #heapPop(): void {
    const heap = this.#heap;
    const top = heap[0] as ParentLine<T>;
    top.inHeap = false;
    const last = heap.pop() as ParentLine<T>;
    if (heap.length === 0) return;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && (heap[right] as ParentLine<T>).key < (heap[left] as ParentLine<T>).key ? right : left;
      if ((heap[child] as ParentLine<T>).key >= last.key) break;
      heap[i] = heap[child] as ParentLine<T>;
      i = child;
    }
    heap[i] = last;
  }
}
