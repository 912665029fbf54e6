/**
 * The run slots of one worker: at most `size` of its runs run at once, not counting runs that
 * wait for their children (they give their slot back). BullMQ's concurrency only bounds the jobs
 * a worker takes (it grows by one while a run waits, so the worker takes another job meanwhile);
 * every job still takes a slot here before it runs, and a run whose wait ended takes one again
 * **before** any job taken meanwhile. A job BullMQ handed over late (a fetch already in flight
 * when the wait ended) waits here instead of running over the limit.
 *
 * @example
 * const slots = new WorkerSlots(4);
 * await slots.acquire('job');   // before a run runs
 * slots.release();              // it ended, or starts waiting for its children
 * await slots.acquire('resumed'); // its wait ended: ahead of queued jobs
 */
export class WorkerSlots {
  readonly #size: number;
  #taken = 0;
  readonly #resumed: (() => void)[] = [];
  readonly #jobs: (() => void)[] = [];

  constructor(size: number) {
    this.#size = size;
  }

  /** Runs holding a slot now. */
  get taken(): number {
    return this.#taken;
  }

  /** Runs waiting for a slot now. */
  get queued(): number {
    return this.#resumed.length + this.#jobs.length;
  }

  /**
   * Resolves once the caller holds a slot: at once when one is free and nobody waits ahead,
   * else in order, resumed runs first. `onQueued` is called when the caller has to wait.
   */
  acquire(kind: 'job' | 'resumed', onQueued?: () => void): Promise<void> {
    if (this.#taken < this.#size && this.#resumed.length === 0 && (kind === 'resumed' || this.#jobs.length === 0)) {
      this.#taken++;
      return Promise.resolve();
    }
    onQueued?.();
    return new Promise<void>((resolve) => (kind === 'resumed' ? this.#resumed : this.#jobs).push(resolve));
  }

  /** Gives a slot back; the next in line (a resumed run first) takes it. */
  release(): void {
    this.#taken = Math.max(0, this.#taken - 1);
    while (this.#taken < this.#size) {
      const next = this.#resumed.shift() ?? this.#jobs.shift();
      if (next === undefined) return;
      this.#taken++;
      next();
    }
  }
}
