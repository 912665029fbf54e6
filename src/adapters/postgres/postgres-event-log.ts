import { Observable, Subject } from 'rxjs';
import { z } from 'zod';
import { agentEventSchema } from '../../../machines/agent-event.events.js';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import type { SproutError } from '../../errors.js';
import { InvalidSessionDataError, SproutValidationError, StoreUnavailableError } from '../../errors.js';
import type { RunFence, WriteOptions } from '../../api/ports.js';
import type { EventLog, EventLogCapabilities, EventLogReadResult, OpenRun } from '../../streams/event-log.js';
import { namedStatement, PostgresDatabase, type PostgresConnectionOptions } from './postgres-database.js';
import { PostgresEventListener, type PostgresEventLogChange } from './postgres-event-listener.js';
import { PostgresGroupCommitWriter } from './postgres-group-commit-writer.js';
import { PostgresRunLedger } from './postgres-run-ledger.js';
import { PostgresWriteFence } from './postgres-write-fence.js';

export type { PostgresEventLogChange } from './postgres-event-listener.js';

/**
 * Options of {@link PostgresEventLog}: how to reach the database (or a shared
 * {@link PostgresDatabase}), and the log's own settings.
 *
 * @example
 * const options: PostgresEventLogOptions = { connectionString: 'postgres://localhost/app', schema: 'sprout', retention: 1000 };
 */
export interface PostgresEventLogOptions extends PostgresConnectionOptions {
  /** A database (pool + schema) to share, e.g. a store's; it stays its owner's (the connection options are then ignored). */
  database?: PostgresDatabase;
  /** Envelopes kept per session for replay; `0` keeps none (seq still counts). @default 1000 */
  retention?: number;
  /** Most appends written in one statement; more wait for the next one. @default 10000 */
  maxBatch?: number;
  /** `NOTIFY` the schema's channel on every commit, for {@link PostgresEventLog.changes$} in other processes. @default true */
  notify?: boolean;
  /**
   * Fence runs: a run's `sub_session_event`, `sub_session_heartbeat` and `sub_session_completed`
   * are written only while the run is open in `open_runs`, checked inside the write statement
   * (the run's row is locked `FOR SHARE` until commit, so a concurrent close waits). Such an
   * append of a closed run rejects with `EventLogError` and nothing of it is written. For several
   * writers on one schema (distributed mode), where a worker taken for dead may still be writing.
   * @default false
   */
  fenceRuns?: boolean;
  /**
   * Called for every stored event that `read` skipped because it fails the schema. Skipped rows
   * are also kept in {@link PostgresEventLog.invalidRows}. @default undefined
   */
  onInvalidRow?: (error: InvalidSessionDataError) => void;
}

/** Options of {@link PostgresEventLog.live}. */
export interface PostgresLiveOptions {
  /** Deliver envelopes with `seq > afterSeq` (replay from the log, then live). @default 0 */
  afterSeq?: number;
}

const optionsSchema = z.object({
  retention: z.number().int().nonnegative().optional(),
  maxBatch: z.number().int().positive().optional(),
  notify: z.boolean().optional(),
});

interface ReadRow {
  last_seq: string;
  first_seq: string | null;
  seq: string | null;
  event: unknown;
}

const noop = (): void => undefined;

/**
 * A durable {@link EventLog} in PostgreSQL (tables `events`, `event_seqs`, `open_runs` of the
 * schema), for several processes writing the same streams:
 *
 * - **seq by the database.** Each batch bumps `event_seqs.last_seq` of every session it
 *   writes (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, sessions locked in one fixed order), so
 *   the row lock hands out contiguous seqs: no gap, no repeat, also with writers in other processes.
 * - **Group commit, one statement per batch.** Appends made in the same event-loop turn (and
 *   those made while a batch is in flight) are written together, in call order (so seq follows
 *   call order within this log), by one call of the server-side function `append_events`
 *   (migration 6): no lock is ever held across client round trips. Each `append` resolves with
 *   its envelope once committed; a failed statement rejects every append of its batch and none
 *   of them is visible.
 * - **Run ledger** (`open_runs`) and run index (`runs`) written in the same statement as the events.
 * - **Retention** per session: `read` never returns more than the last `retention`; older rows
 *   are deleted once they exceed it by a tenth.
 * - **Live fan-out across processes**: each commit `NOTIFY`s the schema's channel with the session
 *   and seq range (never the event); {@link changes$} and {@link live} listen on their own
 *   connection.
 * The work is split by concern: {@link PostgresGroupCommitWriter} (batches and the write
 * statement), {@link PostgresWriteFence} (ownership tokens and the open-run fence),
 * {@link PostgresRunLedger} (`open_runs` questions), `appendEventsFunction` (the SQL) and
 * {@link PostgresEventListener} (`LISTEN`); this class is the `EventLog` port over them.
 *
 * - Failures reject with `StoreUnavailableError` (the pool reconnects by itself); stored events that
 *   fail the schema are skipped on read and reported.
 *
 * @example
 * const log = new PostgresEventLog({ connectionString: 'postgres://localhost/app', schema: 'sprout', retention: 500 });
 * const { seq } = await log.append('root', { type: 'token', content: 'hi' }); // committed
 * (await log.read('root', 0)).envelopes; // includes it
 * await log.close();
 */
export class PostgresEventLog implements EventLog {
  /** Durable, keeps the run ledger in the same transaction as the events, group-commits appends. */
  readonly capabilities: EventLogCapabilities = { durable: true, runLedger: true, batched: true };
  readonly #db: PostgresDatabase;
  readonly #ownsDatabase: boolean;
  readonly #retention: number;
  readonly #onInvalidRow: ((error: InvalidSessionDataError) => void) | undefined;
  readonly #onError: ((error: StoreUnavailableError) => void) | undefined;
  readonly #invalidRows: InvalidSessionDataError[] = [];
  readonly #sql;
  readonly #writer: PostgresGroupCommitWriter;
  readonly #ledger: PostgresRunLedger;
  #closed: Promise<void> | undefined;
  readonly #changes = new Subject<PostgresEventLogChange>();
  #listener: PostgresEventListener | undefined;
  /** The subscribers of {@link changes$}; the listening connection lives while there is one. */
  #listeners = 0;
  /** Public, so a caller can follow every change; see {@link changes$}. */
  readonly changes$: Observable<PostgresEventLogChange>;

  constructor(options: PostgresEventLogOptions = {}) {
    const parsed = optionsSchema.safeParse({ retention: options.retention, maxBatch: options.maxBatch, notify: options.notify });
    if (!parsed.success) throw new SproutValidationError('PostgresEventLog options', parsed.error.issues);
    this.#retention = parsed.data.retention ?? 1000;
    this.#onInvalidRow = options.onInvalidRow;
    this.#onError = options.onError;
    if (options.database) {
      this.#db = options.database;
      this.#ownsDatabase = false;
    } else {
      this.#db = new PostgresDatabase(options);
      this.#ownsDatabase = true;
    }
    const s = this.#db.quoted;
    this.#ledger = new PostgresRunLedger(this.#db, this);
    this.#writer = new PostgresGroupCommitWriter({
      db: this.#db,
      retention: this.#retention,
      maxBatch: parsed.data.maxBatch ?? 10_000,
      notify: parsed.data.notify ?? true,
      fence: new PostgresWriteFence(options.fenceRuns === true),
    });
    this.#sql = {
      // One statement, one snapshot: the last seq, the first retained seq and the envelopes agree.
      read: namedStatement(`WITH h AS (
               SELECT coalesce((SELECT last_seq FROM ${s}.event_seqs WHERE session_id = $1), 0) AS last_seq
             ), b AS (
               SELECT last_seq, greatest(last_seq - $2::bigint, 0) AS horizon FROM h
             )
             SELECT b.last_seq,
                    (SELECT min(seq) FROM ${s}.events WHERE session_id = $1 AND seq > b.horizon) AS first_seq,
                    e.seq, e.event
             FROM b LEFT JOIN LATERAL (
               SELECT seq, event FROM ${s}.events
               WHERE session_id = $1 AND seq > greatest(b.horizon, $3::bigint) AND seq <= b.last_seq
               ORDER BY seq
             ) e ON true
             ORDER BY e.seq`),
      deleteSession: `WITH e AS (DELETE FROM ${s}.events WHERE session_id = $1),
                           r AS (DELETE FROM ${s}.runs WHERE parent_session_id = $1 OR child_session_id = $1)
                      DELETE FROM ${s}.open_runs WHERE parent_session_id = $1 OR child_session_id = $1`,
    };
    this.changes$ = new Observable<PostgresEventLogChange>((subscriber) => {
      const subscription = this.#changes.subscribe(subscriber);
      this.#listeners++;
      void this.#listen().catch(noop);
      return () => {
        subscription.unsubscribe();
        this.#listeners--;
        if (this.#listeners === 0) this.#stopListening();
      };
    });
  }

  /**
   * Stored events `read` skipped as invalid (the most recent 100), oldest first.
   *
   * @example
   * for (const error of log.invalidRows) console.warn(error.message);
   */
  get invalidRows(): readonly InvalidSessionDataError[] {
    return this.#invalidRows;
  }

  /**
   * Queues `event` for the next transaction of this log; resolves with its envelope once that
   * transaction committed (the seq is assigned there), rejects (with `StoreUnavailableError`)
   * when it failed — then nothing of the batch was written.
   *
   * @example
   * const { seq } = await log.append('root', { type: 'token', content: 'hi' });
   */
  append(sessionId: string, event: AgentEvent, options?: WriteOptions): Promise<SessionEventEnvelope> {
    if (this.#closed) return Promise.reject(this.#db.closedError());
    // PostgreSQL text cannot hold U+0000: refuse this append alone rather than fail its whole batch.
    if (sessionId.includes('\u0000')) {
      return Promise.reject(
        new SproutValidationError('session id', [{ code: 'custom', path: [], message: 'contains U+0000, which PostgreSQL cannot store' }]),
      );
    }
    let json: string;
    try {
      json = JSON.stringify(event);
    } catch (error) {
      return Promise.reject(
        new SproutValidationError('event', [{ code: 'custom', path: [], message: `event is not JSON-serializable: ${String(error)}` }]),
      );
    }
    return this.#writer.append(sessionId, event, json, options?.fence);
  }

  /**
   * One append as part of a statement of `PostgresSessionStore.saveAndAppend` (same database): see
   * `PostgresGroupCommitWriter.single`. Throws `SproutValidationError` for what `append` refuses,
   * and for an event of the run ledger (`sub_session_*`), which the log may refuse without failing
   * the statement.
   *
   * @example
   * const part = log.appendPart('root', { type: 'error', message: 'lost' }, fence, 22, 'true');
   */
  appendPart(
    sessionId: string,
    event: AgentEvent,
    fence: RunFence | undefined,
    first: number,
    gate: string,
  ): ReturnType<PostgresGroupCommitWriter['single']> & { database: PostgresDatabase } {
    if (this.#closed) throw this.#db.closedError();
    if (sessionId.includes('\u0000')) {
      throw new SproutValidationError('session id', [
        { code: 'custom', path: [], message: 'contains U+0000, which PostgreSQL cannot store' },
      ]);
    }
    if (event.type.startsWith('sub_session_')) {
      throw new SproutValidationError('event', [
        { code: 'custom', path: ['type'], message: `${event.type} is an event of the run ledger: append it with append()` },
      ]);
    }
    return { ...this.#writer.single(sessionId, event, JSON.stringify(event), fence, first, gate), database: this.#db };
  }

  /**
   * Retained envelopes of `sessionId` with `seq > afterSeq`, oldest first, with the first retained
   * and the last assigned seq. Waits for the appends made before it (read your writes).
   *
   * @example
   * const { envelopes, firstRetainedSeq, lastSeq } = await log.read('root', 0);
   */
  async read(sessionId: string, afterSeq: number): Promise<EventLogReadResult> {
    if (this.#closed) throw this.#db.closedError();
    await this.#writer.settled;
    const retention = this.#retention;
    const after = Number.isNaN(afterSeq) ? 0 : Math.max(0, Math.min(Math.floor(afterSeq), Number.MAX_SAFE_INTEGER));
    const rows = await this.#db.query<ReadRow & Record<string, unknown>>(
      this.#sql.read,
      [sessionId, retention, after],
      `reading events of ${sessionId}`,
    );
    const lastSeq = Number(rows[0]?.last_seq ?? 0);
    if (retention === 0) return { envelopes: [], firstRetainedSeq: undefined, lastSeq };
    const first = rows[0]?.first_seq;
    const envelopes: SessionEventEnvelope[] = [];
    for (const row of rows) {
      if (row.seq === null) continue;
      const seq = Number(row.seq);
      const event = this.#decode(sessionId, seq, row.event);
      if (event !== undefined) envelopes.push({ seq, sessionId, event });
    }
    return { envelopes, firstRetainedSeq: first === null || first === undefined ? undefined : Number(first), lastSeq };
  }

  /**
   * Runs announced and not yet completed (the run ledger, written in the same transaction as the
   * events), in announcement order, across every process writing this schema. Waits for the
   * appends made before it.
   *
   * @example
   * for (const run of await log.openRuns()) console.log(run.runId, 'was open when the process stopped');
   */
  async openRuns(): Promise<OpenRun[]> {
    if (this.#closed) throw this.#db.closedError();
    return this.#ledger.list();
  }

  /**
   * Forgets a deleted session's events and the open runs it announced or that ran it (one
   * statement, after the appends made before it). The seq counter (`event_seqs`) is kept, so a
   * seq is never given to another event.
   *
   * @example
   * await log.deleteSession('c1');
   */
  async deleteSession(sessionId: string): Promise<void> {
    if (this.#closed) throw this.#db.closedError();
    await this.#writer.settled;
    await this.#db.query(this.#sql.deleteSession, [sessionId], 'deleting a session stream');
  }

  /**
   * Resolves once every append made before it is committed or refused (a refused append rejects
   * its own promise; `flush` does not repeat the error).
   *
   * @example
   * log.append('root', event); // not awaited
   * await log.flush();         // written (or refused) now
   */
  async flush(): Promise<void> {
    await this.#writer.settled;
  }

  /**
   * Flushes, stops listening, then ends the pool when the log made it. Idempotent; later appends
   * reject with `StoreUnavailableError`.
   *
   * @example
   * await log.close();
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      await this.#writer.settled;
      this.#stopListening();
      this.#changes.complete();
      if (this.#ownsDatabase) await this.#db.close();
    })();
    return this.#closed;
  }

  /**
   * The envelopes of `sessionId` after `afterSeq` as they are committed — by this process or any
   * other writing the same schema: replays from the log, then reads again on every change
   * {@link changes$} reports for the session. In `seq` order, each once; a gap that retention
   * already dropped is marked with a `stream_truncated` envelope as `scheduler.events()` does. The
   * stream errors with `StoreUnavailableError` when a read fails (the listening connection itself
   * reconnects). Not part of the `EventLog` port: a server in one process uses it to stream what
   * workers in others append.
   *
   * @example
   * log.live('root', { afterSeq: 0 }).subscribe(({ seq, event }) => console.log(seq, event.type));
   */
  live(sessionId: string, options: PostgresLiveOptions = {}): Observable<SessionEventEnvelope> {
    return new Observable<SessionEventEnvelope>((subscriber) => {
      let cursor = Math.max(0, Math.floor(options.afterSeq ?? 0) || 0);
      let reading = false;
      let again = false;
      let stopped = false;
      const pull = async (): Promise<void> => {
        if (reading) {
          again = true;
          return;
        }
        reading = true;
        try {
          do {
            again = false;
            const { envelopes, firstRetainedSeq, lastSeq } = await this.read(sessionId, cursor);
            if (stopped) return;
            const firstAvailable = firstRetainedSeq ?? lastSeq + 1;
            if (cursor + 1 < firstAvailable && lastSeq > cursor) {
              subscriber.next({
                seq: firstAvailable - 1,
                sessionId,
                event: { type: 'stream_truncated', first_retained_seq: firstAvailable },
              });
              cursor = firstAvailable - 1;
            }
            for (const envelope of envelopes) {
              if (envelope.seq <= cursor) continue;
              cursor = envelope.seq;
              subscriber.next(envelope);
              if (stopped) return;
            }
            cursor = Math.max(cursor, lastSeq);
          } while (again && !stopped);
        } catch (error) {
          if (!stopped) subscriber.error(error);
        } finally {
          reading = false;
        }
      };
      const changes = this.changes$.subscribe({
        next: (change) => {
          if (change.type === 'resync' || (change.sessionId === sessionId && change.toSeq > cursor)) void pull();
        },
        // The log was closed.
        complete: () => subscriber.complete(),
      });
      // Listen first, then replay: a change committed in between is read by one of the two. When
      // the listening connection cannot be opened now, replay anyway: it keeps trying, and its
      // `resync` once it is back makes this read again.
      this.#listen().then(
        () => pull(),
        () => pull(),
      );
      return () => {
        stopped = true;
        changes.unsubscribe();
      };
    });
  }

  /** Starts the listening connection (once) and resolves when `LISTEN` is in effect. */
  #listen(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#db.closedError());
    this.#listener ??= new PostgresEventListener(
      this.#db,
      (change) => this.#changes.next(change),
      (error) => this.#report(error),
    );
    return this.#listener.ready();
  }

  /** A failure nobody awaits (the listening connection): to this log's `onError`, else the database's. */
  #report(error: SproutError): void {
    if (!this.#onError) return this.#db.report(error);
    try {
      this.#onError(error instanceof StoreUnavailableError ? error : new StoreUnavailableError(error.message, { cause: error }));
    } catch {
      // A failing hook must not break the listener.
    }
  }

  #stopListening(): void {
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.stop();
  }

  #decode(sessionId: string, seq: number, stored: unknown): AgentEvent | undefined {
    const parsed = agentEventSchema.safeParse(stored);
    if (parsed.success) return parsed.data;
    const invalid = new InvalidSessionDataError(
      sessionId,
      `event seq ${seq}: ${new SproutValidationError('event', parsed.error.issues).message}`,
    );
    this.#invalidRows.push(invalid);
    if (this.#invalidRows.length > 100) this.#invalidRows.shift();
    try {
      this.#onInvalidRow?.(invalid);
    } catch {
      // A throwing hook must not hide the valid events.
    }
    return undefined;
  }
}
