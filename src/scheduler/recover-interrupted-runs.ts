import type { SpawnJob } from '../../machines/spawn-job.events.js';
import { hasPendingUserMessage } from '../../machines/spawn-job.machine.js';
import { METADATA_KEYS } from '../../machines/session.schema.js';
import type { SproutClock } from '../clock.js';
import type { SessionStore } from '../stores/session-store.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { persistRun } from './persist-run.js';

/** The error text of a run that a crash or restart interrupted. */
export const INTERRUPTED_ERROR = 'child session run was interrupted before it ended (scheduler restart)';

/** What `start()` did with the runs a crash left behind. */
export interface RecoveryReport {
  /** Children ended as `error` with reason `interrupted`. */
  interrupted: string[];
  /** Children queued again (`recover: 'requeue'`). */
  requeued: string[];
  /** Children recovery could not handle (see `diagnostics$`). */
  failed: string[];
}

/**
 * The run id of the child's last `sub_session_started` still retained on the parent's stream:
 * the run the parent was told about (a durable event log keeps it across the crash).
 */
function lastStartedRunId(hub: SessionEventHub, parentSessionId: string, childSessionId: string): string | undefined {
  const { envelopes } = hub.log.read(parentSessionId, 0);
  for (let i = envelopes.length - 1; i >= 0; i--) {
    const event = envelopes[i]?.event;
    if (event?.type === 'sub_session_started' && event.child_session_id === childSessionId) return event.run_id;
  }
  return undefined;
}

/** What recovery needs. */
export interface RecoveryDeps {
  store: SessionStore;
  mode: 'interrupt' | 'requeue';
  isLive(childSessionId: string): boolean;
  clock: SproutClock;
  hub: SessionEventHub;
  report(diagnostic: SchedulerDiagnostic): void;
  requeue(job: SpawnJob, title: string): Promise<unknown>;
}

/**
 * Ends (or re-queues) every child whose `last_run_status` is `running` or `pending` with no live
 * run: a crash left it behind. Each interrupted child is saved as `error` (reason `interrupted`)
 * and then its parent gets the completion. One bad session never stops the others.
 *
 * @example
 * const report = await recoverInterruptedRuns({ store, mode: 'interrupt', isLive: () => false, clock, hub, report: console.warn, requeue });
 */
export async function recoverInterruptedRuns(deps: RecoveryDeps): Promise<RecoveryReport> {
  const result: RecoveryReport = { interrupted: [], requeued: [], failed: [] };
  if (!deps.store.listByRunStatus) return result;
  let sessions;
  try {
    sessions = await deps.store.listByRunStatus(['running', 'pending']);
  } catch (error) {
    deps.report({ kind: 'recovery_failed', childSessionId: '*', error });
    return result;
  }
  for (const session of sessions) {
    if (session.kind !== 'child' || !session.parent_session_id || deps.isLive(session.id)) continue;
    const parentSessionId = session.parent_session_id;
    try {
      if (deps.mode === 'requeue' && hasPendingUserMessage(session)) {
        await deps.requeue({ parentSessionId, childSessionId: session.id, model: session.model }, session.title);
        result.requeued.push(session.id);
        continue;
      }
      const runId = lastStartedRunId(deps.hub, parentSessionId, session.id) ?? session.metadata[METADATA_KEYS.runId] ?? `recovered-${session.id}`;
      await persistRun(deps.store, { session, runId, status: 'error', error: INTERRUPTED_ERROR }, () => !deps.isLive(session.id), deps.clock);
      deps.hub.publish(parentSessionId, {
        type: 'sub_session_completed',
        parent_session_id: parentSessionId,
        child_session_id: session.id,
        run_id: runId,
        status: 'error',
        error: INTERRUPTED_ERROR,
        reason: 'interrupted',
      });
      result.interrupted.push(session.id);
    } catch (error) {
      deps.report({ kind: 'recovery_failed', childSessionId: session.id, error });
      result.failed.push(session.id);
    }
  }
  return result;
}
