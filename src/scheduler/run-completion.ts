import type { SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import { outcomeFields, type JobOutcome, type SpawnJob } from '../../machines/spawn-job.events.js';
import type { SproutClock } from '../clock.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { RunLedger } from './run-ledger.js';
import type { RunLedgers } from './run-ledgers.js';

/** What one scheduler's runs share outside the machines: the streams, the clock, the run ledgers. */
export interface RunBook {
  hub: SessionEventHub;
  clock: SproutClock;
  ledgers: RunLedgers;
}

/** Statuses that end a run without a completion (nothing was announced or another run owns it). */
const silent = (status: JobOutcome['status']): status is 'duplicate' | 'discarded' => status === 'duplicate' || status === 'discarded';

/**
 * Ends a run for the outside world, exactly once: claims the end in the run's ledger, records it
 * there (keyed by child and run, so a stale run cannot overwrite a newer one), then publishes
 * `sub_session_completed` on the parent. Returns false when this run's completion was already
 * published.
 *
 * @example
 * publishCompletion(hub, ledger, job, 'r1', { status: 'completed', result: 'done' });
 */
export function publishCompletion(hub: SessionEventHub, ledger: RunLedger, job: SpawnJob, runId: string, outcome: JobOutcome): boolean {
  if (silent(outcome.status) || !ledger.claimEnd(runId)) return false;
  emitCompletion(hub, ledger, job, runId, outcome);
  return true;
}

/** Records the end and publishes the completion of a run whose end was claimed. */
export function emitCompletion(hub: SessionEventHub, ledger: RunLedger, job: SpawnJob, runId: string, outcome: JobOutcome): void {
  const status = outcome.status;
  if (silent(status)) return;
  const { error, reason, result } = outcomeFields(outcome);
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
  // The ledger first: a subscriber of the completion that asks "is this child running?" hears no.
  ledger.end({ childSessionId: job.childSessionId, runId, status, error, reason, result });
  void hub.publish(job.parentSessionId, event);
}
