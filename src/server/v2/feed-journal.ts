import { Subject, type Observable } from 'rxjs';
import { toRfc3339 } from '../../clock.js';

/** A session-level change as Bamboo's account feed carries it (`type` plus snake_case fields). */
export type FeedEvent = Record<string, unknown> & { type: string };

/** One journal entry: Bamboo's `ChangeEvent` (`{ seq, ts, session_id?, event }`). */
export interface ChangeEvent {
  seq: number;
  /** RFC 3339 UTC. */
  ts: string;
  session_id?: string;
  event: FeedEvent;
}

/** What {@link FeedJournal.read} answers: the entries after the cursor, or a reset. */
export type FeedRead = { reset: false; entries: ChangeEvent[] } | { reset: true; latest: number };

/** Options of {@link FeedJournal}. */
export interface FeedJournalOptions {
  /** Entries kept in memory; older ones are dropped (a cursor before them gets a reset). @default 10000 */
  retain?: number;
  /** Clock reading in ms for `ts`. @default Date.now */
  now?: () => number;
}

/**
 * The account feed's journal: session-level changes (`session_created`, `message_appended`,
 * `execution_started`, `complete` / `cancelled` / `error`, …) with a monotonic `seq` held in
 * memory, the last `retain` of them kept for replay. A cursor older than what is kept, or higher
 * than the latest `seq` (the server restarted), reads as a reset.
 *
 * @example
 * const feed = new FeedJournal({ retain: 10_000 });
 * feed.record('s1', { type: 'session_created', session_id: 's1' });
 * feed.read(0); // { reset: false, entries: [{ seq: 1, ts, session_id: 's1', event }] }
 */
export class FeedJournal {
  readonly #retain: number;
  readonly #now: () => number;
  readonly #entries: ChangeEvent[] = [];
  /** Index of the oldest kept entry in {@link #entries} (a ring without moving elements on each drop). */
  #head = 0;
  #latest = 0;
  readonly #changes = new Subject<ChangeEvent>();

  constructor({ retain = 10_000, now = Date.now }: FeedJournalOptions = {}) {
    this.#retain = Math.max(1, retain);
    this.#now = now;
  }

  /** The `seq` of the latest entry (0 before the first). */
  get latest(): number {
    return this.#latest;
  }

  /** Number of entries kept. */
  get size(): number {
    return this.#entries.length - this.#head;
  }

  /** Every entry recorded from now on, as it is recorded. */
  get changes$(): Observable<ChangeEvent> {
    return this.#changes.asObservable();
  }

  /** Appends a change (of `sessionId`, when given) and tells live readers; returns the entry. */
  record(sessionId: string | undefined, event: FeedEvent): ChangeEvent {
    this.#latest += 1;
    const entry: ChangeEvent = { seq: this.#latest, ts: toRfc3339(this.#now()), event };
    if (sessionId !== undefined) entry.session_id = sessionId;
    this.#entries.push(entry);
    if (this.size > this.#retain) {
      this.#entries[this.#head] = undefined as unknown as ChangeEvent;
      this.#head += 1;
      // Compact once half the array is dropped entries: amortized O(1) per record.
      if (this.#head > this.#retain) {
        this.#entries.splice(0, this.#head);
        this.#head = 0;
      }
    }
    this.#changes.next(entry);
    return entry;
  }

  /** The entries with `seq > since`, or a reset when some of them were dropped or `since` is past the latest. */
  read(since: number): FeedRead {
    const oldest = this.#entries[this.#head]?.seq ?? this.#latest + 1;
    if (since > this.#latest || since < oldest - 1) return { reset: true, latest: this.#latest };
    return { reset: false, entries: this.#entries.slice(this.#head + (since - (oldest - 1))) };
  }
}
