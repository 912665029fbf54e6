import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { SessionStore } from '../api/ports.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { loadValidSession, persistRun } from './persist-run.js';
import { claimCompletion, emitCompletion, type RunBook } from './run-completion.js';
import { getRun } from './run-registry.js';

/**
 * Ends a run whose job actor crashed (an implementation threw) before it could publish its
 * completion: aborts the agent, writes `error` on the child (best effort, while this run is the
 * child's newest), then publishes the completion. Does nothing when the completion is out.
 *
 * @example
 * await endCrashedRun(book, store, job, 'r1', new Error('boom'), report);
 */
export async function endCrashedRun(
  book: RunBook,
  store: SessionStore,
  job: SpawnJob,
  runId: string,
  cause: unknown,
  report: (diagnostic: SchedulerDiagnostic) => void,
): Promise<void> {
  if (!claimCompletion(book, runId)) return;
  const tracker = book.trackers.get(runId);
  tracker?.abort();
  tracker?.close();
  const error = `spawn job crashed: ${cause instanceof Error ? cause.message : String(cause)}`;
  try {
    const session = await loadValidSession(store, job.childSessionId);
    if (session) {
      await persistRun(
        store,
        { session, runId, status: 'error', error },
        () => getRun(book.registry, job.childSessionId)?.runId === runId,
        book.clock,
      );
    }
  } catch (saveError) {
    report({ kind: 'job_crashed', runId, childSessionId: job.childSessionId, error: saveError });
  }
  emitCompletion(book, job, runId, { status: 'error', code: 'JOB_CRASHED', error });
}
