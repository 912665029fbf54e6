import { Subject, type Observable } from 'rxjs';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { OnParentEnd } from '../../machines/spawn-job.events.js';
import { isTerminal, type LiveRunStatus } from '../../machines/run-status.js';
import type { RunTracker } from './run-tracker.js';

/** Where a run is: queued, running, or one of the ends a completion reports (`run-status.ts`). */
export type RunStatus = LiveRunStatus;

/** What the ledger knows of a child's latest run. Times are clock milliseconds. */
export interface RunRecord {
  runId: string;
  childSessionId: string;
  /** The parent (`''` for a root's own run). */
  parentSessionId: string;
  title?: string | undefined;
  /** What the run does when its parent's run ends `cancelled` or `error`. */
  onParentEnd?: OnParentEnd | undefined;
  status: RunStatus;
  /** False while the run waits for queue room (accepted, not yet announced with `sub_session_started`). */
  announced: boolean;
  enqueuedAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
  eventsSeen: number;
  lastEventAt?: number | undefined;
  error?: string | undefined;
  reason?: CompletionReason | undefined;
  result?: string | undefined;
}

/** A run's end, as its completion reports it. */
export interface RunEnd {
  childSessionId: string;
  runId: string;
  status: Exclude<RunStatus, 'queued' | 'running'>;
  error?: string | undefined;
  reason?: CompletionReason | undefined;
  result?: string | undefined;
}

/** True while a run is queued or running. */
export function isLive(record: RunRecord | undefined): boolean {
  return record !== undefined && !isTerminal(record.status);
}

/** Options of {@link RunLedger}. */
export interface RunLedgerOptions {
  /** Clock time in milliseconds. */
  now: () => number;
  /** How many ended runs to keep in memory for `getChild` / `waitForChildren`. @default 10000 */
  retainEnded?: number | undefined;
  /** Where ends are announced (shared by the ledgers of one scheduler). @default a new Subject */
  ended$?: Subject<RunEnd> | undefined;
  /** Where every change of a record is announced (shared likewise). @default a new Subject */
  changed$?: Subject<RunRecord> | undefined;
}

/**
 * The one owner of the life of a run in this process, keyed by `(childSessionId, runId)`:
 * accepted (waiting for queue room), queued and announced, started (reserved for running), ended
 * with its outcome. Every write goes through its methods and every question — "is this child
 * running, and which run?" (`liveRun`), dedupe (`queue` / `reserve` refuse a second live run of a
 * child), `cancel`, `getChild`, `waitForChildren`, recovery — is answered here. A stale run can never
 * overwrite a newer one: every write names the run it is about.
 *
 * The durable side lives in the event log: `sub_session_started` opens a run and its
 * `sub_session_completed` closes it in the same write (`EventLog.openRuns`), so after a crash
 * recovery is driven by the runs opened and not closed.
 *
 * Plain Maps (O(1) per write, nothing copied); ended runs are kept up to `retainEnded`.
 *
 * @example
 * const ledger = new RunLedger({ now: () => Date.now() });
 * ledger.queue({ runId: 'r1', childSessionId: 'c', parentSessionId: 'p', announced: true });
 * ledger.reserve('c', 'r1', 'p'); // true: r1 is now the child's running run
 * ledger.liveRun('c')?.runId;     // 'r1'
 */
export class RunLedger {
  readonly #now: () => number;
  readonly #retainEnded: number;
  /** Latest run of each child. */
  readonly #byChild = new Map<string, RunRecord>();
  /** Children whose run ended, oldest first: the retention queue. */
  readonly #ended = new Set<string>();
  /** Live trackers of runs in `running`, by run id. */
  readonly #trackers = new Map<string, RunTracker>();
  /** Runs whose completion was claimed and whose job actor has not ended yet. */
  readonly #claimed = new Set<string>();
  /** Announcements an asynchronous log is still writing, by run id. */
  readonly #announcing = new Map<string, Promise<void>>();
  readonly #ended$: Subject<RunEnd>;
  readonly #changed$: Subject<RunRecord>;

  constructor(options: RunLedgerOptions) {
    const now = options.now;
    this.#now = () => now();
    this.#retainEnded = options.retainEnded ?? 10_000;
    this.#ended$ = options.ended$ ?? new Subject<RunEnd>();
    this.#changed$ = options.changed$ ?? new Subject<RunRecord>();
  }

  /** Every run's end, as it is published. */
  get ended$(): Observable<RunEnd> {
    return this.#ended$;
  }

  /** Every change of a record (queued, announced, started, ended). */
  get changed$(): Observable<RunRecord> {
    return this.#changed$;
  }

  // ── reads ────────────────────────────────────────────────────────────────────────────────

  /** The child's latest run (live or ended and still retained). */
  runOf(childSessionId: string): RunRecord | undefined {
    return this.#byChild.get(childSessionId);
  }

  /** The child's live (queued or running) run: the one answer to "is this child running, and which run?". */
  liveRun(childSessionId: string): RunRecord | undefined {
    const record = this.#byChild.get(childSessionId);
    return isLive(record) ? record : undefined;
  }

  /** True when `runId` is the child's latest run, or the ledger knows no run of the child. */
  isCurrent(childSessionId: string, runId: string): boolean {
    const record = this.#byChild.get(childSessionId);
    return record === undefined || record.runId === runId;
  }

  /** The latest run of every child the ledger holds. */
  records(): IterableIterator<RunRecord> {
    return this.#byChild.values();
  }

  /**
   * Settles once the run's `sub_session_started` was written (or refused) by an asynchronous
   * log; `undefined` when nothing is pending. A job waits for it before it runs anything.
   */
  announcement(runId: string): Promise<void> | undefined {
    return this.#announcing.get(runId);
  }

  /** The forwarding side of a running run. */
  tracker(runId: string): RunTracker | undefined {
    return this.#trackers.get(runId);
  }

  // ── writes ───────────────────────────────────────────────────────────────────────────────

  /**
   * Records an accepted run (`announced: false` while it waits for queue room). Refused (false)
   * when another run of the child is live.
   */
  queue(run: {
    runId: string;
    childSessionId: string;
    parentSessionId: string;
    title?: string | undefined;
    announced: boolean;
    onParentEnd?: OnParentEnd | undefined;
  }): boolean {
    const current = this.#byChild.get(run.childSessionId);
    if (current && current.runId === run.runId) {
      if (run.announced && !current.announced) {
        current.announced = true;
        this.#changed$.next(current);
      }
      return true;
    }
    if (isLive(current)) return false;
    if (current) this.#ended.delete(run.childSessionId);
    const record: RunRecord = {
      runId: run.runId,
      childSessionId: run.childSessionId,
      parentSessionId: run.parentSessionId,
      title: run.title,
      ...(run.onParentEnd === undefined ? {} : { onParentEnd: run.onParentEnd }),
      status: 'queued',
      announced: run.announced,
      enqueuedAt: this.#now(),
      eventsSeen: 0,
    };
    this.#byChild.set(run.childSessionId, record);
    this.#changed$.next(record);
    return true;
  }

  /** Claims the child for this run (queued → running); false when another run of it is live. */
  reserve(childSessionId: string, runId: string, parentSessionId: string): boolean {
    const current = this.#byChild.get(childSessionId);
    if (current && current.runId !== runId && isLive(current)) return false;
    const at = this.#now();
    if (current && current.runId === runId) {
      if (current.status !== 'queued') return false;
      current.status = 'running';
      current.startedAt = at;
      this.#changed$.next(current);
      return true;
    }
    if (current) this.#ended.delete(childSessionId);
    const record: RunRecord = {
      runId,
      childSessionId,
      parentSessionId,
      status: 'running',
      announced: true,
      enqueuedAt: at,
      startedAt: at,
      eventsSeen: 0,
    };
    this.#byChild.set(childSessionId, record);
    this.#changed$.next(record);
    return true;
  }

  /** Records that an asynchronous log is writing the run's announcement (`written` never rejects). */
  announcing(runId: string, written: Promise<void>): void {
    this.#announcing.set(runId, written);
    void written.then(() => {
      if (this.#announcing.get(runId) === written) this.#announcing.delete(runId);
    });
  }

  /** Attaches the forwarding side of a run that entered `running`. */
  track(tracker: RunTracker): void {
    this.#trackers.set(tracker.runId, tracker);
  }

  /** Claims the right to publish a run's completion: true once per run, false after. */
  claimEnd(runId: string): boolean {
    if (this.#claimed.has(runId)) return false;
    this.#claimed.add(runId);
    return true;
  }

  /**
   * Records a run's end (its completion is being published): closes its tracker, keeps its
   * counters, announces it on `ended$`. Ignored for a run that is not the child's latest.
   */
  end(end: RunEnd): void {
    const tracker = this.#trackers.get(end.runId);
    tracker?.close();
    this.#trackers.delete(end.runId);
    const current = this.#byChild.get(end.childSessionId);
    if (current && current.runId === end.runId) {
      current.status = end.status;
      current.endedAt = this.#now();
      current.error = end.error;
      current.reason = end.reason;
      current.result = end.result;
      current.eventsSeen = tracker?.eventsSeen ?? current.eventsSeen;
      current.lastEventAt = tracker?.lastEventAt ?? current.lastEventAt;
      this.#retain(end.childSessionId);
      this.#changed$.next(current);
    }
    this.#ended$.next(end);
  }

  /** Forgets a run that was never announced (its `sub_session_started` could not be written). */
  drop(childSessionId: string, runId: string): void {
    const current = this.#byChild.get(childSessionId);
    if (!current || current.runId !== runId) return;
    current.status = 'cancelled';
    current.endedAt = this.#now();
    current.error = 'never announced';
    this.#retain(childSessionId);
    this.#changed$.next(current);
  }

  /** The run's job actor is gone: its claim and tracker are no longer needed. */
  release(runId: string): void {
    this.#claimed.delete(runId);
    this.#trackers.get(runId)?.close();
    this.#trackers.delete(runId);
  }

  #retain(childSessionId: string): void {
    this.#ended.delete(childSessionId);
    this.#ended.add(childSessionId);
    while (this.#ended.size > this.#retainEnded) {
      const oldest = this.#ended.values().next().value as string;
      this.#ended.delete(oldest);
      if (!isLive(this.#byChild.get(oldest))) this.#byChild.delete(oldest);
    }
  }
}
