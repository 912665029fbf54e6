import { Subject, type Observable, type Subscription } from 'rxjs';
import type { SessionEventEnvelope } from '../api/wire-types.js';
import type { EventsOptions } from '../api/scheduler-types.js';
import { systemClock } from '../clock.js';
import { applyEvent, type RunBook } from './run-book.js';
import type { ObservedRun, RunChange } from './observed-run.js';

export type { ObservedRun, ObservedRunState, RunChange } from './observed-run.js';

/** What {@link observeRuns} needs of a scheduler: its event streams (the embedded scheduler and the distributed front door both have them). */
export interface ObservableScheduler {
  events(sessionId: string, options?: EventsOptions): Observable<SessionEventEnvelope>;
  /** When present, a run seen only once dispatched gets its real start (`enqueuedAt`) from it. */
  getChild?(childSessionId: string): Promise<{ runId: string; enqueuedAt?: string | undefined } | undefined>;
}

/** A source of live runs, e.g. `createRunStateTracker()` from `sprout/server` (its `changes$`). */
export interface RunStateSource {
  readonly changes$: Observable<{ runId: string; childSessionId: string; parentSessionId: string; done: boolean }>;
}

/** Options of {@link observeRuns}. */
export interface ObserveRunsOptions {
  /**
   * Learns of runs from the scheduler's inspection: the stream of a run's parent (of a root's own
   * run: the root) is watched when the run is dispatched and the observer does not know it yet.
   * @default none: only the sessions passed to `watch` (and `appended$`) are observed
   */
  runStates?: RunStateSource;
  /**
   * Every append to the log (the distributed front door's `eventLog.changes$`): each session that
   * gets events is watched from that seq on, without unwrapping forwarded events.
   * @default none
   */
  appended$?: Observable<{ type: string; sessionId?: string; fromSeq?: number }>;
  /** Clock reading in ms for start and end times. @default Date.now */
  now?: () => number;
  /** Sessions watched at most; the least recently active one is dropped beyond. @default 10000 */
  maxWatched?: number;
}

/** Options of {@link RunObserver.watch}. */
export interface WatchOptions {
  /** Replay the retained events after this seq first. @default live events only */
  afterSeq?: number;
  /** Also read the events forwarded from descendants (`sub_session_event`), so one root covers its tree. @default true */
  unwrap?: boolean;
}

/** Runs seen on a scheduler's event streams (see {@link observeRuns}). */
export interface RunObserver {
  /** Every change of a run, in the order it was seen. Hot. */
  readonly changes$: Observable<RunChange>;
  /** Follows a session's stream (once; a second call changes nothing). */
  watch(sessionId: string, options?: WatchOptions): void;
  /** The runs seen and not ended. */
  open(): ObservedRun[];
  /** Stops following every stream and completes `changes$`. */
  unsubscribe(): void;
}

/**
 * Follows runs on a scheduler's public event streams only: `sub_session_started` opens a run
 * (queued), its heartbeats say running or waiting (`waiting_on`), a forwarded `complete` gives its
 * usage, `sub_session_completed` ends it. A watched root also shows its own run (when
 * `runStates` reports it) and, with `unwrap`, every run of its tree, each once even when several
 * of its sessions are watched. A run first seen after its announcement (a heartbeat or its end)
 * is reported with `startSeen: false` (with `runStates`, its queue time is then read from
 * `scheduler.getChild` when the scheduler has it). Memory is bounded by the open runs and `maxWatched`.
 *
 * @example
 * const observer = observeRuns(scheduler);
 * observer.changes$.subscribe(({ type, run }) => console.log(type, run.runId, run.state));
 * observer.watch('root');
 */
export function observeRuns(scheduler: ObservableScheduler, options: ObserveRunsOptions = {}): RunObserver {
  const now = options.now ?? (() => systemClock.now());
  const maxWatched = options.maxWatched ?? 10_000;
  const changes = new Subject<RunChange>();
  const watched = new Map<string, Subscription>();
  const sources: Subscription[] = [];
  const book: RunBook = { open: new Map(), ended: new Set(), current: new Map(), now, emit: (change) => changes.next(change) };

  const watch = (sessionId: string, { afterSeq, unwrap = true }: WatchOptions = {}): void => {
    if (watched.has(sessionId) || changes.closed) return;
    if (watched.size >= maxWatched) {
      const [oldest, subscription] = watched.entries().next().value as [string, Subscription];
      watched.delete(oldest);
      subscription.unsubscribe();
    }
    const seen = (envelope: SessionEventEnvelope): void => {
      const subscription = watched.get(sessionId);
      if (subscription !== undefined) {
        // Most recently active last: the first entry is the one dropped at the cap.
        watched.delete(sessionId);
        watched.set(sessionId, subscription);
      }
      applyEvent(book, envelope.sessionId, envelope.event, unwrap);
    };
    const placeholder = { unsubscribe: () => {} } as Subscription;
    watched.set(sessionId, placeholder);
    const subscription = scheduler
      .events(sessionId, afterSeq === undefined ? undefined : { afterSeq })
      .subscribe({ next: seen, error: () => watched.delete(sessionId) });
    if (watched.get(sessionId) === placeholder) watched.set(sessionId, subscription);
  };

  // A run first seen when dispatched: its queue time, from the scheduler's own record of it.
  const recoverStart = (runId: string, childSessionId: string): void => {
    const status$ = scheduler.getChild?.(childSessionId);
    if (status$ === undefined) return;
    status$
      .then((status) => {
        const run = book.open.get(runId);
        const enqueuedAt = status?.runId === runId && status.enqueuedAt !== undefined ? Date.parse(status.enqueuedAt) : NaN;
        if (run === undefined || run.startSeen || Number.isNaN(enqueuedAt)) return;
        run.startedAt = enqueuedAt;
        run.startSeen = true;
      })
      // The start stays unseen (the run has no duration); the run itself is still followed.
      .catch(() => undefined);
  };

  if (options.runStates !== undefined) {
    sources.push(
      options.runStates.changes$.subscribe((run) => {
        if (run.runId === '' || run.done || book.open.has(run.runId) || book.ended.has(run.runId)) return;
        const root = run.parentSessionId === '';
        watch(root ? run.childSessionId : run.parentSessionId);
        // Dispatched before its stream was watched: its announcement was missed (a root's own run has none).
        applyEvent(
          book,
          root ? run.childSessionId : run.parentSessionId,
          { type: 'sub_session_started', parent_session_id: run.parentSessionId, child_session_id: run.childSessionId, run_id: run.runId },
          false,
          { startSeen: root, state: 'running' },
        );
        if (!root) recoverStart(run.runId, run.childSessionId);
      }),
    );
  }
  if (options.appended$ !== undefined) {
    sources.push(
      options.appended$.subscribe((change) => {
        if (change.type !== 'appended' || change.sessionId === undefined) return;
        watch(change.sessionId, { afterSeq: Math.max(0, (change.fromSeq ?? 1) - 1), unwrap: false });
      }),
    );
  }

  return {
    changes$: changes.asObservable(),
    watch,
    open: () => [...book.open.values()].map((run) => ({ ...run })),
    unsubscribe: () => {
      for (const subscription of sources.splice(0)) subscription.unsubscribe();
      for (const subscription of watched.values()) subscription.unsubscribe();
      watched.clear();
      changes.complete();
    },
  };
}
