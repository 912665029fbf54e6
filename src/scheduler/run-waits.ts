/**
 * The runs that gave their slot back to wait for their children, seen from the callers of
 * `waitForChildren`: how many waits each run has open (the slot is given back on the first and
 * taken again after the last), and the promise each resumed caller awaits until the scheduler
 * answers `scheduler.resume` (the run holds a slot again, or has ended).
 *
 * @example
 * if (waits.begin(runId)) actor.send({ type: 'scheduler.yield', runId });
 * // … the children end …
 * if (waits.end(runId)) { const resumed = waits.resumed(runId); actor.send({ type: 'scheduler.resume', runId }); await resumed; }
 */
export class RunWaits {
  readonly #open = new Map<string, number>();
  readonly #resumes = new Map<string, { promise: Promise<void>; resolve: () => void }>();

  /** Opens a wait of the run; true for its first open wait (the run should give its slot back). */
  begin(runId: string): boolean {
    const open = (this.#open.get(runId) ?? 0) + 1;
    this.#open.set(runId, open);
    return open === 1;
  }

  /** Closes a wait of the run; true when it was the last (the run should take a slot again). */
  end(runId: string): boolean {
    const open = (this.#open.get(runId) ?? 1) - 1;
    if (open > 0) {
      this.#open.set(runId, open);
      return false;
    }
    this.#open.delete(runId);
    return true;
  }

  /** True while the run has an open wait. */
  isWaiting(runId: string): boolean {
    return this.#open.has(runId);
  }

  /** Settles once the scheduler answered the run's resume (create it before sending `scheduler.resume`). */
  resumed(runId: string): Promise<void> {
    let entry = this.#resumes.get(runId);
    if (entry === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((settle) => (resolve = settle));
      entry = { promise, resolve };
      this.#resumes.set(runId, entry);
    }
    return entry.promise;
  }

  /** The run holds a slot again, or has ended: its resumed callers continue. */
  settle(runId: string): void {
    const entry = this.#resumes.get(runId);
    if (entry === undefined) return;
    this.#resumes.delete(runId);
    entry.resolve();
  }
}
