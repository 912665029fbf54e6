/**
 * The invariants of an event log and its run ledger, checked in one ordered pass (pure: no I/O,
 * no clock; the readers in `src/adapters/*\/*-audit-reader.ts` feed it rows).
 */

/** What one broken invariant is about. */
export type AuditFindingKind =
  | 'seq_gap'
  | 'seq_counter_mismatch'
  | 'completion_without_start'
  | 'duplicate_completion'
  | 'lost_run'
  | 'ledger_run_completed'
  | 'run_open_too_long'
  | 'stale_heartbeat'
  | 'open_under_ended_parent';

/** One broken invariant. */
export interface AuditFinding {
  kind: AuditFindingKind;
  /** The stream it was found on (for a run: its parent's). */
  sessionId: string;
  runId?: string;
  seq?: number;
  /** What is wrong, in one sentence. */
  detail: string;
}

/** One row of the events table, in `(session_id, seq)` order. */
export interface AuditEventRow {
  sessionId: string;
  seq: number;
  /** The session's seq counter (`event_seqs.last_seq`), `undefined` when it has none. */
  lastSeq: number | undefined;
  /** The event's JSON, or `undefined` for a row the reader knows is no sub-session event (not needed). */
  json: string | undefined;
}

/** One row of the run ledger (`open_runs`). */
export interface AuditLedgerRun {
  runId: string;
  parentSessionId: string;
  childSessionId: string;
  startedSeq: number;
}

/** Limits of {@link EventLogAuditor}. */
export interface AuditOptions {
  /** Now, in ms since the epoch (compared with heartbeat timestamps). */
  now: number;
  /** An open run whose first retained heartbeat is older than this is reported. @default 86400000 (24 h) */
  maxRunMs?: number;
  /** The scheduler's `heartbeatIntervalMs`. @default 5000 */
  heartbeatIntervalMs?: number;
  /** A running run whose last heartbeat is older than this many intervals is reported. @default 3 */
  staleAfterBeats?: number;
  /** Findings kept in the report (all are counted). @default 1000 */
  maxFindings?: number;
}

/** What {@link EventLogAuditor.finish} returns. */
export interface AuditReport {
  /** The first `maxFindings` findings, in the order found. */
  findings: AuditFinding[];
  /** Every finding counted by kind (also those beyond `maxFindings`). */
  counts: Partial<Record<AuditFindingKind, number>>;
  /** Total findings. */
  total: number;
  /** Events read, sessions with events, runs in the ledger. */
  scanned: { events: number; sessions: number; openRuns: number };
}

interface RunOnStream {
  started: boolean;
  completions: number;
}

interface LedgerFacts {
  run: AuditLedgerRun;
  firstBeat?: number;
  lastBeat?: number;
}

/** The fields of a sub-session event the audit reads. */
interface SubSessionFields {
  type: string;
  parent_session_id?: unknown;
  child_session_id?: unknown;
  run_id?: unknown;
  status?: unknown;
  timestamp?: unknown;
}

const SUB_SESSION = new Set(['sub_session_started', 'sub_session_completed', 'sub_session_heartbeat']);

/**
 * True when an event's JSON may be a sub-session event the audit reads (a reader can skip
 * parsing, or even fetching, every other row).
 *
 * @example
 * mayMatter('{"type":"token","content":"hi"}'); // false
 */
export function mayMatter(json: string): boolean {
  return json.includes('sub_session_started') || json.includes('sub_session_completed') || json.includes('sub_session_heartbeat');
}

/**
 * Checks an event log and its run ledger in one pass over the events in `(session_id, seq)`
 * order, with memory bounded by the open runs and the runs of one stream: seq gaps inside the
 * retained range and a counter that disagrees with the last retained seq; per parent stream, a
 * completion without a start (only when nothing was pruned), two completions of one run, a
 * start with neither a completion nor an open ledger run (a lost run), a ledger run whose
 * completion is stored; per open run, one open longer than `maxRunMs` (from its first retained
 * heartbeat; runs without heartbeats are skipped), a stale last heartbeat, and a run still open
 * whose parent's last run ended `cancelled` or `error` (unless the child was spawned with
 * `onParentEnd: 'abandon'`).
 *
 * @example
 * const auditor = new EventLogAuditor(ledgerRows, { now: Date.now() });
 * for (const row of rows) auditor.push(row);
 * const report = auditor.finish(new Set(abandonedChildIds));
 */
export class EventLogAuditor {
  readonly #options: Required<AuditOptions>;
  readonly #ledger = new Map<string, LedgerFacts>();
  /** Last run of each session that is the parent of an open ledger run: ended with this status, or open. */
  readonly #parentEnds = new Map<string, string | undefined>();
  readonly #findings: AuditFinding[] = [];
  readonly #counts: Partial<Record<AuditFindingKind, number>> = {};
  #total = 0;
  #events = 0;
  #sessions = 0;
  #session: string | undefined;
  #firstSeq = 0;
  #prevSeq = 0;
  #lastSeq: number | undefined;
  #runs = new Map<string, RunOnStream>();

  constructor(ledger: Iterable<AuditLedgerRun>, options: AuditOptions) {
    this.#options = { maxRunMs: 86_400_000, heartbeatIntervalMs: 5000, staleAfterBeats: 3, maxFindings: 1000, ...options };
    for (const run of ledger) {
      this.#ledger.set(run.runId, { run });
      this.#parentEnds.set(run.parentSessionId, undefined);
    }
  }

  /** Reads the next event row (rows must come in `(session_id, seq)` order). */
  push(row: AuditEventRow): void {
    this.#events += 1;
    if (row.sessionId !== this.#session) {
      this.#endSession();
      this.#session = row.sessionId;
      this.#sessions += 1;
      this.#firstSeq = row.seq;
      this.#lastSeq = row.lastSeq;
    } else if (row.seq !== this.#prevSeq + 1) {
      this.#report({
        kind: 'seq_gap',
        sessionId: row.sessionId,
        seq: row.seq,
        detail: `seq ${row.seq - 1 === this.#prevSeq + 1 ? this.#prevSeq + 1 : `${this.#prevSeq + 1}..${row.seq - 1}`} missing inside the retained range`,
      });
    }
    this.#prevSeq = row.seq;
    if (row.json !== undefined && mayMatter(row.json)) this.#read(row);
  }

  /** Session ids whose open run sits under a parent whose last run ended `cancelled` / `error` (ask the store who was spawned with `abandon`). */
  childrenUnderEndedParents(): string[] {
    this.#endSession();
    const out: string[] = [];
    for (const { run } of this.#ledger.values()) if (this.#endedParent(run) !== undefined) out.push(run.childSessionId);
    return out;
  }

  /** Ends the pass and checks the open runs; `abandoned` are children spawned with `onParentEnd: 'abandon'`. */
  finish(abandoned: ReadonlySet<string> = new Set()): AuditReport {
    this.#endSession();
    const { now, maxRunMs, heartbeatIntervalMs, staleAfterBeats } = this.#options;
    const staleMs = heartbeatIntervalMs * staleAfterBeats;
    for (const { run, firstBeat, lastBeat } of this.#ledger.values()) {
      const at = { sessionId: run.parentSessionId, runId: run.runId };
      if (firstBeat !== undefined && now - firstBeat > maxRunMs)
        this.#report({
          kind: 'run_open_too_long',
          ...at,
          detail: `open for ${Math.round((now - firstBeat) / 1000)} s (limit ${maxRunMs / 1000} s)`,
        });
      if (lastBeat !== undefined && now - lastBeat > staleMs)
        this.#report({
          kind: 'stale_heartbeat',
          ...at,
          detail: `last heartbeat ${Math.round((now - lastBeat) / 1000)} s ago (limit ${staleMs / 1000} s)`,
        });
      const parentEnd = this.#endedParent(run);
      if (parentEnd !== undefined && !abandoned.has(run.childSessionId))
        this.#report({ kind: 'open_under_ended_parent', ...at, detail: `still open while its parent's last run ended ${parentEnd}` });
    }
    return {
      findings: this.#findings,
      counts: this.#counts,
      total: this.#total,
      scanned: { events: this.#events, sessions: this.#sessions, openRuns: this.#ledger.size },
    };
  }

  #endedParent(run: AuditLedgerRun): string | undefined {
    const end = this.#parentEnds.get(run.parentSessionId);
    return end === 'cancelled' || end === 'error' ? end : undefined;
  }

  #read(row: AuditEventRow): void {
    let event: SubSessionFields;
    try {
      event = JSON.parse(row.json as string) as SubSessionFields;
    } catch {
      return;
    }
    // Only what a stream announced itself (forwarded copies on ancestors' streams are skipped), as the ledger does.
    if (!SUB_SESSION.has(event.type) || event.parent_session_id !== row.sessionId || typeof event.run_id !== 'string') return;
    const runId = event.run_id;
    const child = typeof event.child_session_id === 'string' ? event.child_session_id : '';
    if (event.type === 'sub_session_heartbeat') {
      const facts = this.#ledger.get(runId);
      const at = typeof event.timestamp === 'string' ? Date.parse(event.timestamp) : NaN;
      if (facts === undefined || Number.isNaN(at)) return;
      facts.firstBeat ??= at;
      facts.lastBeat = at;
      return;
    }
    const run = this.#runs.get(runId) ?? { started: false, completions: 0 };
    this.#runs.set(runId, run);
    if (event.type === 'sub_session_started') {
      run.started = true;
      if (this.#parentEnds.has(child)) this.#parentEnds.set(child, undefined);
      return;
    }
    run.completions += 1;
    if (this.#parentEnds.has(child)) this.#parentEnds.set(child, typeof event.status === 'string' ? event.status : 'unknown');
    if (run.completions === 2)
      this.#report({
        kind: 'duplicate_completion',
        sessionId: row.sessionId,
        runId,
        seq: row.seq,
        detail: 'a second sub_session_completed',
      });
  }

  #endSession(): void {
    const sessionId = this.#session;
    if (sessionId === undefined) return;
    this.#session = undefined;
    if (this.#lastSeq === undefined)
      this.#report({ kind: 'seq_counter_mismatch', sessionId, detail: `events up to seq ${this.#prevSeq} but no seq counter` });
    else if (this.#lastSeq !== this.#prevSeq)
      this.#report({
        kind: 'seq_counter_mismatch',
        sessionId,
        detail: `last retained seq ${this.#prevSeq}, seq counter ${this.#lastSeq}`,
      });
    for (const [runId, run] of this.#runs) {
      const at = { sessionId, runId };
      if (run.started && run.completions === 0 && !this.#ledger.has(runId))
        this.#report({ kind: 'lost_run', ...at, detail: 'sub_session_started without a completion, and no open run in the ledger' });
      if (!run.started && this.#firstSeq === 1)
        this.#report({ kind: 'completion_without_start', ...at, detail: 'sub_session_completed without a sub_session_started' });
      if (run.completions > 0 && this.#ledger.has(runId))
        this.#report({ kind: 'ledger_run_completed', ...at, detail: 'completed on its stream, still open in the ledger' });
    }
    this.#runs = new Map();
  }

  #report(finding: AuditFinding): void {
    this.#total += 1;
    this.#counts[finding.kind] = (this.#counts[finding.kind] ?? 0) + 1;
    if (this.#findings.length < this.#options.maxFindings) this.#findings.push(finding);
  }
}
