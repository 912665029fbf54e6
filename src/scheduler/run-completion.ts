import type { SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import type { JobOutcome, SpawnJob } from '../../machines/spawn-job.events.js';
import type { SproutClock } from '../clock.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { RunRegistry } from './run-registry.js';
import type { RunTracker } from './run-tracker.js';

/** The shared, mutable state of one scheduler's runs, outside the machines. */
export interface RunBook {
  hub: SessionEventHub;
  registry: RunRegistry;
  clock: SproutClock;
  /** Live trackers of runs in `running`, by run id. */
  trackers: Map<string, RunTracker>;
  /** Runs whose completion was published and whose job actor has not ended yet. */
  completed: Set<string>;
}

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
  if (outcome.status === 'duplicate' || !claimCompletion(book, runId)) return false;
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
  if (outcome.status === 'duplicate') return;
  const tracker = book.trackers.get(runId);
  tracker?.close();
  book.trackers.delete(runId);
  const status = outcome.status;
  book.registry.trigger.ended({
    childSessionId: job.childSessionId,
    runId,
    status,
    error: outcome.error,
    reason: outcome.reason,
    result: outcome.result,
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
  if (outcome.error !== undefined) event.error = outcome.error;
  if (outcome.reason !== undefined) event.reason = outcome.reason;
  if (outcome.result !== undefined) event.result = outcome.result;
  book.hub.publish(job.parentSessionId, event);
}
