import type { AgentEvent, SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import { isRootJob, LOAD_ERROR_CODES, outcomeFields, type JobOutcome, type SpawnJob } from '../../machines/spawn-job.events.js';
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

/** Usage of a run whose agent reported none. */
const NO_USAGE = { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 };

/**
 * The one terminal event a run publishes on its session's own stream: `complete` with the usage
 * the agent reported, or `error` with why it did not complete. `undefined` for a run that never
 * ran as its session (a load error: the session may be someone else's).
 */
export function terminalEventOf(outcome: JobOutcome, usage: unknown): AgentEvent | undefined {
  switch (outcome.status) {
    case 'completed':
      return { type: 'complete', usage: (usage ?? NO_USAGE) as Extract<AgentEvent, { type: 'complete' }>['usage'] };
    case 'error':
      return LOAD_ERROR_CODES.has(outcome.code) ? undefined : { type: 'error', message: outcome.error };
    case 'cancelled':
      return { type: 'error', message: `run cancelled (reason: ${outcome.reason})` };
    case 'skipped':
      return { type: 'error', message: outcome.error };
    default:
      return undefined;
  }
}

/**
 * Records the end and publishes the completion of a run whose end was claimed: first the run's
 * terminal event on the session's own stream (forwarded up the tree like every event of it),
 * then `sub_session_completed` on the parent (a root's own run has no parent). As in the seed, a
 * child's terminal event is its agent's: a child run that never started its agent (cancelled
 * while queued, skipped) has none; a root's run always ends with one, its stream's only end.
 */
export function emitCompletion(hub: SessionEventHub, ledger: RunLedger, job: SpawnJob, runId: string, outcome: JobOutcome): void {
  const status = outcome.status;
  if (silent(status)) return;
  const tracker = ledger.tracker(runId);
  const terminal = tracker !== undefined || isRootJob(job) ? terminalEventOf(outcome, tracker?.usage) : undefined;
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
  if (isRootJob(job)) {
    // A root's terminal event is its stream's end: a subscriber of it that asks "is this session
    // running?" (to send the next message) hears no.
    ledger.end({ childSessionId: job.childSessionId, runId, status, error, reason, result });
    if (terminal !== undefined) void hub.publish(job.childSessionId, terminal, runId);
    return;
  }
  // A child's terminal event is forwarded to its parent under this run, before its completion.
  if (terminal !== undefined) void hub.publish(job.childSessionId, terminal, runId);
  // The ledger first: a subscriber of the completion that asks "is this child running?" hears no.
  ledger.end({ childSessionId: job.childSessionId, runId, status, error, reason, result });
  void hub.publish(job.parentSessionId, event);
}
