import { Subject, type Observable } from 'rxjs';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { GuardedObservable } from '../streams/guarded-observable.js';

/**
 * Something a distributed front door or worker wants you to know that is not a run's own outcome:
 * a service went away (it reconnects), a run was put back in the queue for later, a run whose
 * worker was lost was ended, a lease was lost, or a diagnostic of a worker's embedded scheduler.
 */
export type DistributedDiagnostic =
  /** Redis or PostgreSQL failed (a connection dropped, a command was refused); connections reconnect on their own. */
  | { kind: 'service_error'; error: unknown }
  /** A run's job was put back in the queue, to be taken again in `delayMs`. */
  | { kind: 'run_deferred'; runId: string; why: string; delayMs: number; error?: unknown }
  /** A run whose worker was lost was ended (and, with `recover: 'requeue'`, its child queued again as `requeuedAs`). */
  | { kind: 'run_recovered'; runId: string; childSessionId: string; status: string; requeuedAs?: string | undefined }
  /** The queue was reconciled with PostgreSQL (Redis had lost data): jobs of open runs and of pending children put back. */
  | { kind: 'queue_reconciled'; reopened: string[]; requeued: string[] }
  /** A running run lost its lease (its worker stalled longer than the lease, or Redis was away): limits may be exceeded briefly. */
  | { kind: 'lease_lost'; runId: string; parentSessionId: string; what: 'owner' | 'slot' }
  /**
   * A run waits for a slot of this worker (`concurrency` runs run): `resumed` — its wait for its
   * children ended while a job taken in its slot still runs (it goes on first when one frees);
   * else a job BullMQ handed over while every slot was taken.
   */
  | { kind: 'run_slot_wait'; runId: string; resumed: boolean }
  /**
   * A run was queued by a process configured differently from this worker (`option`: the option,
   * `here`: this worker's value, `queued`: the queuing process's; each process applies its own):
   * reported once per value seen. Give every front door and worker of a deployment the same value.
   */
  | { kind: 'config_mismatch'; option: 'maxDepth'; here: number; queued: number; runId: string }
  /** A diagnostic of a worker's embedded scheduler (subscriber errors, late events, …). */
  | { kind: 'scheduler'; diagnostic: SchedulerDiagnostic };

/** A diagnostics channel: `report` never throws; `diagnostics$` is hot and guarded. */
export function createDiagnostics(hook: ((diagnostic: DistributedDiagnostic) => void) | undefined): {
  diagnostics$: Observable<DistributedDiagnostic>;
  report: (diagnostic: DistributedDiagnostic) => void;
  complete: () => void;
} {
  const subject = new Subject<DistributedDiagnostic>();
  const diagnostics$ = new GuardedObservable<DistributedDiagnostic>(
    (subscriber) => subject.subscribe(subscriber),
    () => {},
  );
  return {
    diagnostics$,
    report: (diagnostic) => {
      try {
        hook?.(diagnostic);
      } catch {
        // A failing hook must not break a worker.
      }
      subject.next(diagnostic);
    },
    complete: () => subject.complete(),
  };
}
