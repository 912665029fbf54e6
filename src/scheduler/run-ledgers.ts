import { Subject, type Observable } from 'rxjs';
import { RunLedger, isLive, type RunEnd, type RunRecord } from './run-ledger.js';
import type { RunTracker } from './run-tracker.js';

/**
 * The run ledgers of one scheduler's logic, one per scheduler actor: the facade's own actor and
 * every copy of `scheduler.logic` embedded in an application each carry their own ledger (two
 * embedded copies never share run state), while the facade's queries (`getChild`,
 * `waitForChildren`, `cancel`) see the runs of all of them. Ends and changes of every ledger come
 * out of one `ended$` / `changed$`.
 *
 * @example
 * const ledgers = new RunLedgers({ now: () => clock.now() });
 * const ledger = ledgers.of(schedulerActor); // created on first use
 * ledgers.liveRun('child-1');                 // the child's live run in any ledger
 */
export class RunLedgers {
  readonly #options: { now(): number; retainEnded?: number | undefined };
  readonly #byOwner = new WeakMap<object, RunLedger>();
  /**
   * Every ledger, weakly: a ledger lives as long as its scheduler actor (the WeakMap's key), so an
   * application that creates and drops embedded scheduler actors does not accumulate their ledgers.
   */
  readonly #all = new Set<WeakRef<RunLedger>>();
  readonly #ended$ = new Subject<RunEnd>();
  readonly #changed$ = new Subject<RunRecord>();

  constructor(options: { now(): number; retainEnded?: number | undefined }) {
    this.#options = options;
  }

  /** The ledger of a scheduler actor (any object standing for one), created on first use. */
  of(owner: object): RunLedger {
    let ledger = this.#byOwner.get(owner);
    if (!ledger) {
      ledger = new RunLedger({ ...this.#options, ended$: this.#ended$, changed$: this.#changed$ });
      this.#byOwner.set(owner, ledger);
      const ref = new WeakRef(ledger);
      this.#all.add(ref);
      if (this.#all.size === 1) this.#single = ref;
    }
    return ledger;
  }

  /**
   * The one ledger when there is exactly one (the usual case: the facade's actor alone), so the
   * hot reads (every forwarded event asks `runOf`) skip the generator over weak references.
   */
  #only(): RunLedger | undefined {
    return this.#all.size === 1 ? this.#single?.deref() : undefined;
  }

  /** The first ledger made (the one {@link #only} reads while it is the only one). */
  #single: WeakRef<RunLedger> | undefined;

  /** The ledgers still alive (dropping the references of collected ones). */
  *#ledgers(): IterableIterator<RunLedger> {
    for (const ref of this.#all) {
      const ledger = ref.deref();
      if (ledger) yield ledger;
      else this.#all.delete(ref);
    }
  }

  /** Every run's end, from every ledger. */
  get ended$(): Observable<RunEnd> {
    return this.#ended$;
  }

  /** Every change of a record, from every ledger. */
  get changed$(): Observable<RunRecord> {
    return this.#changed$;
  }

  /** The child's live run in any ledger. */
  liveRun(childSessionId: string): RunRecord | undefined {
    const only = this.#only();
    if (only !== undefined) return only.liveRun(childSessionId);
    for (const ledger of this.#ledgers()) {
      const record = ledger.liveRun(childSessionId);
      if (record) return record;
    }
    return undefined;
  }

  /** The child's latest run: a live one first, else the one that ended last. */
  runOf(childSessionId: string): RunRecord | undefined {
    const only = this.#only();
    if (only !== undefined) return only.runOf(childSessionId);
    let latest: RunRecord | undefined;
    for (const ledger of this.#ledgers()) {
      const record = ledger.runOf(childSessionId);
      if (!record) continue;
      if (isLive(record)) return record;
      if (!latest || (record.endedAt ?? 0) >= (latest.endedAt ?? 0)) latest = record;
    }
    return latest;
  }

  /** The forwarding side of a running run, in whichever ledger holds it (run ids chosen by embedders may repeat across copies). */
  tracker(runId: string, childSessionId?: string): RunTracker | undefined {
    for (const ledger of this.#ledgers()) {
      const tracker = ledger.tracker(runId);
      if (tracker && (childSessionId === undefined || tracker.job.childSessionId === childSessionId)) return tracker;
    }
    return undefined;
  }

  /**
   * The ledger that holds the run `runId` of `childSessionId` (its scheduler actor recorded it
   * when it accepted the run, before spawning its job), or `undefined` for a run no scheduler
   * recorded (a job created on its own).
   */
  holding(runId: string, childSessionId: string): RunLedger | undefined {
    for (const ledger of this.#ledgers()) if (ledger.runOf(childSessionId)?.runId === runId) return ledger;
    return undefined;
  }

  /** The latest run of every child, across the ledgers. */
  *records(): IterableIterator<RunRecord> {
    for (const ledger of this.#ledgers()) yield* ledger.records();
  }
}
