import { z } from 'zod';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { SproutValidationError } from '../../errors.js';
import type { EventLog, EventLogReadResult, OpenRun } from '../../streams/event-log.js';
import { ledgerChange } from '../../streams/ledger-change.js';
import { systemClock, toRfc3339 } from '../../clock.js';
import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';
import { runIndexChange } from '../../streams/run-index-change.js';
import { MemoryRunIndex } from './memory-run-index.js';

/**
 * Options of {@link MemoryEventLog}.
 *
 * @example
 * const log = new MemoryEventLog({ retention: 200 } satisfies MemoryEventLogOptions);
 */
export interface MemoryEventLogOptions {
  /**
   * How many of the most recent envelopes each session keeps for replay. `0` keeps none (seq
   * numbers still count). Must be a non-negative integer.
   * @default 1000
   */
  retention?: number;
}

const optionsSchema = z.object({ retention: z.number().int().nonnegative().optional() });

/** One session's stream: its last seq and a ring of the last `capacity` envelopes. */
interface SessionRing {
  lastSeq: number;
  /**
   * Envelope with seq `s` lives at index `(s - 1) % capacity`. Grows by `push` until it holds
   * `capacity` entries, then is overwritten in place: no shift or splice per append, and a
   * session that only ever sees a few events does not pay for a full preallocated buffer.
   */
  ring: SessionEventEnvelope[];
}

/**
 * An in-process {@link EventLog}: seq numbers per session (1, 2, 3, …) and a fixed-size ring
 * buffer of the last `retention` envelopes per session. `append` is O(1) and allocates only the
 * envelope. Nothing survives the process (use `SqliteEventLog` for that).
 *
 * Envelopes are stored and returned as is (not copied): treat them as read-only.
 *
 * @example
 * const log = new MemoryEventLog({ retention: 2 });
 * log.append('s1', { type: 'token', content: 'a' }); // seq 1
 * log.append('s1', { type: 'token', content: 'b' }); // seq 2
 * log.append('s1', { type: 'token', content: 'c' }); // seq 3, seq 1 falls out
 * log.read('s1', 0); // { envelopes: [seq 2, seq 3], firstRetainedSeq: 2, lastSeq: 3 }
 */
export class MemoryEventLog implements EventLog, RunIndex {
  readonly #capacity: number;
  readonly #sessions = new Map<string, SessionRing>();
  readonly #openRuns = new Map<string, OpenRun>();
  readonly #runs = new MemoryRunIndex();
  /** The last seq of deleted sessions (a seq never repeats, even if an id comes back). */
  readonly #deletedSeqs = new Map<string, number>();
  /** Nothing survives the process; the run ledger is kept (for `openRuns`) but not durable. */
  readonly capabilities = { durable: false, runLedger: true } as const;

  constructor(options: MemoryEventLogOptions = {}) {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw new SproutValidationError('MemoryEventLog options', parsed.error.issues);
    this.#capacity = parsed.data.retention ?? 1000;
  }

  /**
   * Assigns the session's next seq to `event`, retains the envelope and returns it.
   *
   * @example
   * const { seq } = log.append('s1', { type: 'token', content: 'hi' });
   */
  append(sessionId: string, event: AgentEvent): SessionEventEnvelope {
    let stream = this.#sessions.get(sessionId);
    if (stream === undefined) {
      stream = { lastSeq: this.#deletedSeqs.get(sessionId) ?? 0, ring: [] };
      this.#deletedSeqs.delete(sessionId);
      this.#sessions.set(sessionId, stream);
    }
    const seq = ++stream.lastSeq;
    const envelope: SessionEventEnvelope = { seq, sessionId, event };
    const change = ledgerChange(sessionId, seq, event);
    if (change?.kind === 'open') {
      // A repeated announcement of the same run keeps the first one (as SQLite's INSERT OR IGNORE does).
      if (!this.#openRuns.has(change.run.runId)) this.#openRuns.set(change.run.runId, change.run);
    } else if (change?.kind === 'close') this.#openRuns.delete(change.runId);
    if (event.type.startsWith('sub_session_')) {
      const indexed = runIndexChange(sessionId, seq, event, toRfc3339(systemClock.now()));
      if (indexed !== undefined) this.#runs.apply(indexed);
    }
    const capacity = this.#capacity;
    if (capacity === 0) return envelope;
    if (seq <= capacity) stream.ring.push(envelope);
    else stream.ring[(seq - 1) % capacity] = envelope;
    return envelope;
  }

  /**
   * Retained envelopes of `sessionId` with `seq > afterSeq`, oldest first, plus the first
   * retained and the last assigned seq. A fractional `afterSeq` is floored; a negative or NaN
   * one reads everything retained.
   *
   * @example
   * const { envelopes, firstRetainedSeq } = log.read('s1', lastSeenSeq);
   * if (firstRetainedSeq !== undefined && firstRetainedSeq > lastSeenSeq + 1) showGap();
   */
  read(sessionId: string, afterSeq: number): EventLogReadResult {
    const stream = this.#sessions.get(sessionId);
    if (stream === undefined) return { envelopes: [], firstRetainedSeq: undefined, lastSeq: this.#deletedSeqs.get(sessionId) ?? 0 };
    const { lastSeq, ring } = stream;
    const capacity = this.#capacity;
    if (capacity === 0) return { envelopes: [], firstRetainedSeq: undefined, lastSeq };
    const firstRetainedSeq = Math.max(1, lastSeq - capacity + 1);
    const from = Math.max(firstRetainedSeq, Number.isNaN(afterSeq) ? 1 : Math.floor(afterSeq) + 1);
    const envelopes: SessionEventEnvelope[] = [];
    for (let seq = from; seq <= lastSeq; seq++) envelopes.push(ring[(seq - 1) % capacity]!);
    return { envelopes, firstRetainedSeq, lastSeq };
  }

  /**
   * Runs announced and not yet completed on this log, oldest first.
   *
   * @example
   * log.append('p', { type: 'sub_session_started', parent_session_id: 'p', child_session_id: 'c', run_id: 'r1' });
   * log.openRuns(); // [{ runId: 'r1', parentSessionId: 'p', childSessionId: 'c', startedSeq: 1 }]
   */
  openRuns(): OpenRun[] {
    return [...this.#openRuns.values()];
  }

  /**
   * Forgets a deleted session's events and the open runs it announced or that ran it (its seq
   * counter is kept).
   *
   * @example
   * log.deleteSession('c1');
   * log.read('c1', 0).envelopes; // []
   */
  deleteSession(sessionId: string): void {
    const stream = this.#sessions.get(sessionId);
    if (stream !== undefined) {
      this.#deletedSeqs.set(sessionId, stream.lastSeq);
      this.#sessions.delete(sessionId);
    }
    for (const [runId, run] of this.#openRuns) {
      if (run.parentSessionId === sessionId || run.childSessionId === sessionId) this.#openRuns.delete(runId);
    }
    this.#runs.deleteSession(sessionId);
  }

  /**
   * One page of the runs this log saw announced, newest first (the run index, see `RunIndex`).
   *
   * @example
   * const { runs, nextCursor } = log.queryRuns({ status: ['running'], limit: 50 });
   */
  queryRuns(query: RunQuery): RunPage {
    return this.#runs.queryRuns(query);
  }

  /**
   * One indexed run by id, or `undefined`.
   *
   * @example
   * log.getRun('r1')?.status; // 'completed'
   */
  getRun(runId: string): RunRecord | undefined {
    return this.#runs.getRun(runId);
  }

  /**
   * Nothing to release: a no-op, so seq numbers keep counting if the log is used again (a
   * session's seq never repeats).
   *
   * @example
   * log.close();
   */
  close(): void {
    // Intentionally empty: the streams are plain memory, collected with the log.
  }
}
