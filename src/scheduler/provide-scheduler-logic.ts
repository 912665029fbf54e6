import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SessionStore } from '../api/ports.js';
import type { JobLogic } from './create-job-logic.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { endCrashedRun } from './end-crashed-run.js';
import type { EnqueueRequests } from './enqueue-requests.js';
import type { RunBook } from './run-completion.js';

/** What the scheduler machine's implementations need. */
export interface SchedulerLogicDeps {
  book: RunBook;
  store: SessionStore;
  jobLogic: JobLogic;
  requests: EnqueueRequests;
  /** Completions of crashed jobs still being written (`stop()` waits for them). */
  crashEnds: Set<Promise<void>>;
  report(diagnostic: SchedulerDiagnostic): void;
}

/**
 * The scheduler machine with Sprout's implementations plugged in (`machine.provide`): the job
 * logic, announcing a queued run (`sub_session_started`, or dropping it unannounced when the log
 * refuses it), answering `enqueue` calls, and ending crashed jobs.
 *
 * @example
 * const logic = provideSchedulerLogic({ book, store, jobLogic, requests: new EnqueueRequests(), crashEnds: new Set(), report });
 */
export function provideSchedulerLogic(deps: SchedulerLogicDeps) {
  const { book, requests } = deps;
  const report = (diagnostic: SchedulerDiagnostic): void => deps.report(diagnostic);
  const { registry, hub, clock } = book;
  return schedulerMachine.provide({
    actors: { spawnJob: deps.jobLogic },
    actions: {
      publishStarted: ({ self }, { run }) => {
        registry.trigger.queued({
          record: {
            runId: run.runId,
            childSessionId: run.job.childSessionId,
            parentSessionId: run.job.parentSessionId,
            title: run.title,
            status: 'queued',
            enqueuedAt: clock.now(),
            eventsSeen: 0,
          },
        });
        const published = hub.publish(run.job.parentSessionId, {
          type: 'sub_session_started',
          parent_session_id: run.job.parentSessionId,
          child_session_id: run.job.childSessionId,
          ...(run.title === undefined ? {} : { title: run.title }),
          run_id: run.runId,
        });
        if (published !== undefined) return;
        // Never announced: the run is dropped (no completion either) and its enqueue rejects.
        registry.trigger.ended({
          childSessionId: run.job.childSessionId,
          runId: run.runId,
          status: 'cancelled',
          eventsSeen: 0,
          at: clock.now(),
          error: 'never announced',
        });
        requests.unannounced(run.runId);
        self.send({ type: 'scheduler.discard', runIds: [run.runId] });
      },
      resolveEnqueue: (_, { requestId, runId, deduplicated }) => requests.resolve(requestId, runId, deduplicated),
      rejectEnqueue: (_, { requestId }) => requests.reject(requestId),
      jobEnded: (_, { runId }) => {
        book.completed.delete(runId);
        book.trackers.get(runId)?.close();
      },
      jobCrashed: (_, { runId, parentSessionId, childSessionId, error }) => {
        report({ kind: 'job_crashed', runId, childSessionId, error });
        const ending = endCrashedRun(book, deps.store, { parentSessionId, childSessionId, model: '' }, runId, error, (d) => report(d));
        deps.crashEnds.add(ending);
        void ending.finally(() => deps.crashEnds.delete(ending));
      },
    },
  });
}

/** The provided scheduler logic's type. */
export type SchedulerLogic = ReturnType<typeof provideSchedulerLogic>;
