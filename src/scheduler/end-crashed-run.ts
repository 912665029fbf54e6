import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { SessionStore } from '../api/ports.js';
import type { SproutClock } from '../clock.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { loadValidSession, persistRun } from '../core/persist-run.js';
import { emitCompletion } from './run-completion.js';
import type { RunLedger } from './run-ledger.js';

/**
 * Ends a run whose job actor crashed (an implementation threw) before it could publish its
 * completion: aborts the agent, writes `error` on the child (best effort, while this run is the
 * child's newest), then publishes the completion. Does nothing when the completion is out.
 *
 * @example
 * await endCrashedRun({ hub, ledger, store, clock }, job, 'r1', new Error('boom'), report);
 */
export async function endCrashedRun(
  deps: { hub: SessionEventHub; ledger: RunLedger; store: SessionStore; clock: SproutClock },
  job: SpawnJob,
  runId: string,
  cause: unknown,
  report: (diagnostic: SchedulerDiagnostic) => void,
): Promise<void> {
  const { ledger, store } = deps;
  if (!ledger.claimEnd(runId)) return;
  const tracker = ledger.tracker(runId);
  tracker?.abort();
  tracker?.close();
  const error = `spawn job crashed: ${cause instanceof Error ? cause.message : String(cause)}`;
  try {
    const session = await loadValidSession(store, job.childSessionId);
    if (session) {
      await persistRun(store, { session, runId, status: 'error', error }, () => ledger.isCurrent(job.childSessionId, runId), deps.clock);
    }
  } catch (saveError) {
    report({ kind: 'job_crashed', runId, childSessionId: job.childSessionId, error: saveError });
  }
  emitCompletion(deps.hub, ledger, job, runId, { status: 'error', code: 'JOB_CRASHED', error });
}
