import type { Subject } from 'rxjs';
import type { SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import { outcomeFields, type JobOutcome, type SpawnJob } from '../../machines/spawn-job.events.js';
import type { SproutClock } from '../clock.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { RunRegistry } from './run-registry.js';
import type { RunTracker } from './run-tracker.js';
import type { ChildRunSummary } from './wait-for-children.js';

/** The shared, mutable state of one scheduler's runs, outside the machines. */
export interface RunBook {
  hub: SessionEventHub;
  registry: RunRegistry;
  clock: SproutClock;
  /** Live trackers of runs in `running`, by run id. */
  trackers: Map<string, RunTracker>;
  /** Runs whose completion was published and whose job actor has not ended yet. */
  completed: Set<string>;
  /** Every run's end, as it is published (what `waitForChildren` pins runs by). */
  ended$: Subject<ChildRunSummary & { reason?: SubSessionCompletedEvent['reason'] }>;
}

/** Statuses that end a run without a completion (nothing was announced or another run owns it). */
const silent = (status: JobOutcome['status']): status is 'duplicate' | 'discarded' => status === 'duplicate' || status === 'discarded';

/**
 * Ends a run for the outside world, exactly once: records the end in the registry (keyed by
 * child and run, so a stale run cannot overwrite a newer one), then publishes
 * `sub_session_completed` on the parent. Returns false when this run's completion was already
 * published.
 *
 * @example
 * publishCompletion(book, job, 'r1', { status: 'completed', result: 'done' });
 */
export function publishCompletion(book: RunBook, job: SpawnJob, runId: string, outcome: JobOutcome): boolean {
  if (silent(outcome.status) || !claimCompletion(book, runId)) return false;
  emitCompletion(book, job, runId, outcome);
  return true;
}

/** Claims the right to publish a run's completion; false when it was claimed before. */
export function claimCompletion(book: RunBook, runId: string): boolean {
  if (book.completed.has(runId)) return false;
  book.completed.add(runId);
  return true;
}

/** Records the end and publishes the completion of a run whose completion was claimed. */
export function emitCompletion(book: RunBook, job: SpawnJob, runId: string, outcome: JobOutcome): void {
  const status = outcome.status;
  if (silent(status)) return;
  const { error, reason, result } = outcomeFields(outcome);
  const tracker = book.trackers.get(runId);
  tracker?.close();
  book.trackers.delete(runId);
  book.registry.trigger.ended({
    childSessionId: job.childSessionId,
    runId,
    status,
    error,
    reason,
    result,
    eventsSeen: tracker?.eventsSeen ?? 0,
    lastEventAt: tracker?.lastEventAt,
    at: book.clock.now(),
  });
  const event: SubSessionCompletedEvent = {
    type: 'sub_session_completed',
    parent_session_id: job.parentSessionId,
    child_session_id: job.childSessionId,
    run_id: runId,
    status,
  };
  if (error !== undefined) event.error = error;
  if (reason !== undefined) event.reason = reason;
  if (result !== undefined) event.result = result;
  book.hub.publish(job.parentSessionId, event);
  const summary: ChildRunSummary & { reason?: SubSessionCompletedEvent['reason'] } = { childSessionId: job.childSessionId, runId, status };
  if (error !== undefined) summary.error = error;
  if (reason !== undefined) summary.reason = reason;
  if (result !== undefined) summary.result = result;
  book.ended$.next(summary);
}
