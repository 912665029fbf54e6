import type { AnyActorRef } from 'xstate';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { SessionStore } from '../api/ports.js';
import type { JobLogic } from './create-job-logic.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { endCrashedRun } from './end-crashed-run.js';
import type { EnqueueRequests } from './enqueue-requests.js';
import type { RunBook } from './run-completion.js';
import type { RunWaits } from './run-waits.js';
import { isRootJob } from '../../machines/spawn-job.events.js';

/** What the scheduler machine's implementations need. */
export interface SchedulerLogicDeps {
  book: RunBook;
  store: SessionStore;
  jobLogic: JobLogic;
  requests: EnqueueRequests;
  /** Runs waiting for their children, and their callers waiting to continue. */
  waits: RunWaits;
  /** Completions of crashed jobs still being written (`stop()` waits for them). */
  crashEnds: Set<Promise<void>>;
  report(diagnostic: SchedulerDiagnostic): void;
}

/**
 * The scheduler machine with Sprout's implementations plugged in (`machine.provide`): the job
 * logic, recording accepted and queued runs in the actor's own run ledger, announcing a queued
 * run (`sub_session_started`, or dropping it unannounced when the log refuses it), answering
 * `enqueue` calls, and ending crashed jobs. Each actor created from this logic gets its own
 * ledger (`book.ledgers.of(self)`), so embedded copies never share run state.
 *
 * @example
 * const logic = provideSchedulerLogic({ book, store, jobLogic, requests: new EnqueueRequests(), crashEnds: new Set(), report });
 */
export function provideSchedulerLogic(deps: SchedulerLogicDeps) {
  const { book, requests } = deps;
  const report = (diagnostic: SchedulerDiagnostic): void => deps.report(diagnostic);
  const { hub, ledgers } = book;
  const ledgerOf = (self: AnyActorRef) => ledgers.of(self);
  return schedulerMachine.provide({
    actors: { spawnJob: deps.jobLogic },
    actions: {
      recordAccepted: ({ self }, { run }) => {
        ledgerOf(self).queue({
          runId: run.runId,
          childSessionId: run.job.childSessionId,
          parentSessionId: run.job.parentSessionId,
          title: run.title,
          announced: false,
          onParentEnd: run.job.onParentEnd,
        });
      },
      publishStarted: ({ self }, { run }) => {
        const ledger = ledgerOf(self);
        const { job, runId } = run;
        ledger.queue({
          runId,
          childSessionId: job.childSessionId,
          parentSessionId: job.parentSessionId,
          title: run.title,
          announced: true,
          onParentEnd: job.onParentEnd,
        });
        // A root's own run has no parent to announce it to.
        if (isRootJob(job)) return;
        const unannounced = (): void => {
          // Never announced: the run is dropped (no completion either) and its enqueue rejects.
          ledger.drop(job.childSessionId, runId);
          requests.unannounced(runId);
          self.send({ type: 'scheduler.discard', runIds: [runId] });
        };
        const published = hub.publish(job.parentSessionId, {
          type: 'sub_session_started',
          parent_session_id: job.parentSessionId,
          child_session_id: job.childSessionId,
          ...(run.title === undefined ? {} : { title: run.title }),
          run_id: runId,
        });
        // A batched log delivers after its commit: nothing of the run starts before its
        // announcement reached subscribers (the enqueue itself answers at once: the row is queued
        // for this turn's group commit, and an awaited enqueue must not cost an event-loop turn).
        const delivered = published !== undefined && !(published instanceof Promise) ? hub.whenDelivered() : undefined;
        if (published === undefined) unannounced();
        else if (delivered !== undefined) ledger.announcing(runId, delivered);
        else if (published instanceof Promise) {
          // An asynchronous log: the enqueue answer waits for the announcement to be written.
          const written = published.then((envelope) => {
            if (envelope === undefined) unannounced();
          });
          ledger.announcing(runId, written);
          requests.announcing(runId, written);
        }
      },
      resolveEnqueue: (_, { requestId, runId, deduplicated }) => requests.resolve(requestId, runId, deduplicated),
      rejectEnqueue: (_, { requestId }) => requests.reject(requestId),
      jobEnded: ({ self }, { runId }) => {
        ledgerOf(self).release(runId);
        deps.waits.settle(runId);
      },
      runResumed: (_, { runId }) => deps.waits.settle(runId),
      reportStarved: (_, { queued, resuming }) => report({ kind: 'scheduler_starved', queued, resuming }),
      jobCrashed: ({ self }, { runId, parentSessionId, childSessionId, error }) => {
        report({ kind: 'job_crashed', runId, childSessionId, error });
        const ending = endCrashedRun(
          { hub, ledger: ledgerOf(self), store: deps.store, clock: book.clock },
          { parentSessionId, childSessionId, model: '' },
          runId,
          error,
          (d) => report(d),
        );
        deps.crashEnds.add(ending);
        void ending.finally(() => deps.crashEnds.delete(ending));
      },
    },
  });
}

/** The provided scheduler logic's type. */
export type SchedulerLogic = ReturnType<typeof provideSchedulerLogic>;
