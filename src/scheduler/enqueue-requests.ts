import { EventLogError, SchedulerStoppedError } from '../errors.js';
import type { EnqueueResult } from '../api/scheduler-types.js';

/**
 * The `enqueue` calls waiting for the scheduler machine's answer, by request id, and the runs
 * whose `sub_session_started` could not be written (their call rejects with {@link EventLogError}).
 *
 * @example
 * const requests = new EnqueueRequests();
 * const answer = requests.wait('req-1'); // then the machine's resolveEnqueue calls requests.resolve('req-1', 'run-1', false)
 */
export class EnqueueRequests {
  readonly #waiting = new Map<string, { resolve: (result: EnqueueResult) => void; reject: (error: Error) => void }>();
  readonly #unannounced = new Map<string, EventLogError>();
  /** Announcements still being written by an asynchronous log, by run id. */
  readonly #announcing = new Map<string, Promise<void>>();

  /** A promise for the answer to request `requestId`. */
  wait(requestId: string): Promise<EnqueueResult> {
    return new Promise<EnqueueResult>((resolve, reject) => this.#waiting.set(requestId, { resolve, reject }));
  }

  /** Marks a run as never announced: its request rejects when the machine answers it. */
  unannounced(runId: string): void {
    this.#unannounced.set(runId, new EventLogError(`could not publish sub_session_started for run ${runId}`));
  }

  /** The run's `sub_session_started` is being written (an asynchronous log): its answer waits for it. */
  announcing(runId: string, written: Promise<void>): void {
    this.#announcing.set(runId, written);
    void written.finally(() => {
      if (this.#announcing.get(runId) === written) this.#announcing.delete(runId);
    });
  }

  /** The machine queued (or deduplicated) the request. */
  resolve(requestId: string, runId: string, deduplicated: boolean): void {
    const pending = deduplicated ? undefined : this.#announcing.get(runId);
    if (pending) {
      void pending.then(() => this.resolve(requestId, runId, deduplicated));
      this.#announcing.delete(runId);
      return;
    }
    const waiter = this.#take(requestId);
    const failure = this.#unannounced.get(runId);
    if (failure && !deduplicated) {
      this.#unannounced.delete(runId);
      waiter?.reject(failure);
      return;
    }
    waiter?.resolve(deduplicated ? { runId, deduplicated: true } : { runId });
  }

  /** The machine refused the request: the scheduler is stopping. */
  reject(requestId: string): void {
    this.#take(requestId)?.reject(new SchedulerStoppedError());
  }

  #take(requestId: string) {
    const waiter = this.#waiting.get(requestId);
    this.#waiting.delete(requestId);
    return waiter;
  }
}
