import { Observable, Subject } from 'rxjs';
import type { Client, PoolClient } from 'pg';
import { z } from 'zod';
import { agentEventSchema } from '../../../machines/agent-event.events.js';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import {
  EventLogError,
  InvalidSessionDataError,
  RunFencedError,
  SproutError,
  SproutValidationError,
  StoreUnavailableError,
} from '../../errors.js';
import type { RunFence, WriteOptions } from '../../api/ports.js';
import type { EventLog, EventLogCapabilities, EventLogReadResult, OpenRun } from '../../streams/event-log.js';
import { ledgerChange, type LedgerChange } from '../../streams/ledger-change.js';
import { runIndexChange, type RunIndexChange } from '../../streams/run-index-change.js';
import { systemClock, toRfc3339 } from '../../clock.js';
import { PostgresRunIndexWriter } from './postgres-run-index.js';
import { PostgresDatabase, isPostgresConnectionError, type PostgresConnectionOptions } from './postgres-database.js';

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
  /** Most appends written in one transaction; more wait for the next one. @default 10000 */
  maxBatch?: number;
  /** `NOTIFY` the schema's channel on every commit, for {@link PostgresEventLog.changes$} in other processes. @default true */
  notify?: boolean;
  /**
   * Fence runs: a run's `sub_session_event`, `sub_session_heartbeat` and `sub_session_completed`
   * are written only while the run is open in `open_runs`, checked inside the write transaction
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

/**
 * What {@link PostgresEventLog.changes$} tells: a session's stream got `fromSeq`…`toSeq` (committed,
 * by any process on the same schema), or `resync` — the listening connection was lost and came
 * back, so notifications may have been missed: read again what you follow.
 *
 * @example
 * const change: PostgresEventLogChange = { type: 'appended', sessionId: 'root', fromSeq: 4, toSeq: 6 };
 */
export type PostgresEventLogChange = { type: 'appended'; sessionId: string; fromSeq: number; toSeq: number } | { type: 'resync' };

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

/** NOTIFY payloads must stay under 8000 bytes; a session id longer than this gets no notification. */
const MAX_NOTIFY_PAYLOAD = 7900;

/** How often a batch whose transaction deadlocked with another writer is tried again. */
const DEADLOCK_ATTEMPTS = 5;

interface Pending {
  sessionId: string;
  event: AgentEvent;
  json: string;
  /** The writer's ownership token of the event's run, checked in the transaction. */
  fence: RunFence | undefined;
  /** Set when the fence was found not to be the run's any more. */
  fenceLost?: boolean;
  resolve(envelope: SessionEventEnvelope): void;
  reject(error: unknown): void;
}

interface Written {
  pending: Pending;
  seq: number;
}

interface OpenRunRow {
  run_id: string;
  parent_session_id: string;
  child_session_id: string;
  title: string | null;
  started_seq: string;
}

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
 * - **seq by the database.** Each transaction bumps `event_seqs.last_seq` of every session it
 *   writes (`INSERT … ON CONFLICT DO UPDATE … RETURNING`, sessions locked in one fixed order), so
 *   the row lock hands out contiguous seqs: no gap, no repeat, also with writers in other processes.
 * - **Group commit.** Appends made in the same event-loop turn (and those made while a
 *   transaction is in flight) are written in one transaction, in call order (so seq follows call order within this
 *   log). Each `append` resolves with its envelope once committed; a failed transaction rejects
 *   every append of its batch and none of them is visible.
 * - **Run ledger** (`open_runs`) written in the same transaction as the events.
 * - **Retention** per session: `read` never returns more than the last `retention`; older rows
 *   are deleted once they exceed it by a tenth.
 * - **Live fan-out across processes**: each commit `NOTIFY`s the schema's channel with the session
 *   and seq range (never the event); {@link changes$} and {@link live} listen on their own
 *   connection.
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
  readonly #maxBatch: number;
  readonly #notify: boolean;
  readonly #fenceRuns: boolean;
  readonly #onInvalidRow: ((error: InvalidSessionDataError) => void) | undefined;
  readonly #onError: ((error: StoreUnavailableError) => void) | undefined;
  readonly #invalidRows: InvalidSessionDataError[] = [];
  readonly #sql;
  readonly #runIndex: PostgresRunIndexWriter;
  /** Sessions' seqs known deleted through (per process; another process's pruning is harmless). */
  readonly #prunedThrough = new Map<string, number>();
  #pending: Pending[] = [];
  #scheduled = false;
  #writing = false;
  /**
   * Settles (never rejects) with the last append made so far. Batches are written one after
   * another and settle their appends in call order, so this settles after every earlier one too.
   */
  #settled: Promise<void> = Promise.resolve();
  #closed: Promise<void> | undefined;
  readonly #changes = new Subject<PostgresEventLogChange>();
  #listener: Listener | undefined;
  /** The subscribers of {@link changes$}; the listening connection lives while there is one. */
  #listeners = 0;
  /** Public, so a caller can follow every change; see {@link changes$}. */
  readonly changes$: Observable<PostgresEventLogChange>;

  constructor(options: PostgresEventLogOptions = {}) {
    const parsed = optionsSchema.safeParse({ retention: options.retention, maxBatch: options.maxBatch, notify: options.notify });
    if (!parsed.success) throw new SproutValidationError('PostgresEventLog options', parsed.error.issues);
    this.#retention = parsed.data.retention ?? 1000;
    this.#maxBatch = parsed.data.maxBatch ?? 10_000;
    this.#notify = parsed.data.notify ?? true;
    this.#fenceRuns = options.fenceRuns === true;
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
    this.#runIndex = new PostgresRunIndexWriter(s);
    this.#sql = {
      // Sessions in one fixed (byte) order, so two writers lock their rows in the same order (no deadlock).
      bumpSeqs: `INSERT INTO ${s}.event_seqs (session_id, last_seq)
                 SELECT id, n FROM unnest($1::text[], $2::bigint[]) AS b(id, n) ORDER BY id COLLATE "C"
                 ON CONFLICT (session_id) DO UPDATE SET last_seq = ${s}.event_seqs.last_seq + excluded.last_seq
                 RETURNING session_id, last_seq`,
      insertEvents: `INSERT INTO ${s}.events (session_id, seq, event) SELECT * FROM unnest($1::text[], $2::bigint[], $3::json[])`,
      openRuns: `INSERT INTO ${s}.open_runs (run_id, parent_session_id, child_session_id, title, started_seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[])
                 ON CONFLICT (run_id) DO NOTHING`,
      closeRuns: `DELETE FROM ${s}.open_runs WHERE run_id = ANY($1::text[])`,
      lockOpenRuns: `SELECT run_id FROM ${s}.open_runs WHERE run_id = ANY($1::text[]) FOR SHARE`,
      lockFences: `SELECT run_id, epoch FROM ${s}.run_fences WHERE run_id = ANY($1::text[]) FOR SHARE`,
      prune: `DELETE FROM ${s}.events e USING unnest($1::text[], $2::bigint[]) AS p(id, through)
              WHERE e.session_id = p.id AND e.seq <= p.through`,
      notify: `SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload`,
      // One statement, one snapshot: the last seq, the first retained seq and the envelopes agree.
      read: `WITH h AS (
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
             ORDER BY e.seq`,
      listOpenRuns: `SELECT run_id, parent_session_id, child_session_id, title, started_seq FROM ${s}.open_runs ORDER BY position`,
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
    const appended = new Promise<SessionEventEnvelope>((resolve, reject) => {
      this.#pending.push({ sessionId, event, json, fence: options?.fence, resolve, reject });
    });
    this.#settled = appended.then(noop, noop);
    this.#schedule();
    return appended;
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
    await this.#settled;
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
    await this.#settled;
    const rows = await this.#db.query<OpenRunRow & Record<string, unknown>>(this.#sql.listOpenRuns, [], 'listing open runs');
    return rows.map((row) => {
      const run: OpenRun = {
        runId: row.run_id,
        parentSessionId: row.parent_session_id,
        childSessionId: row.child_session_id,
        startedSeq: Number(row.started_seq),
      };
      if (row.title !== null) run.title = row.title;
      return run;
    });
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
    await this.#settled;
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
    await this.#settled;
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
      await this.#settled;
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

  #schedule(): void {
    if (this.#scheduled || this.#writing) return;
    this.#scheduled = true;
    // Group commit per event-loop turn: everything appended until the I/O phase goes in one
    // transaction; what is appended while it is in flight goes in the next.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#drain();
    });
  }

  /** Writes batches one after another (so seq follows call order) until nothing is pending. */
  async #drain(): Promise<void> {
    if (this.#writing) return;
    this.#writing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxBatch);
        await this.#writeBatch(batch);
      }
    } finally {
      this.#writing = false;
    }
  }

  /** One transaction for `batch`; settles every append of it. Never rejects. */
  async #writeBatch(batch: Pending[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const { written, fenced } = await this.#db.withClient(
          (client) => this.#transaction(client, batch),
          `appending ${batch.length} event(s)`,
        );
        for (const { pending, seq } of written) pending.resolve({ seq, sessionId: pending.sessionId, event: pending.event });
        for (const pending of fenced) {
          if (pending.fenceLost === true && pending.fence !== undefined) {
            pending.reject(new RunFencedError(pending.fence.runId, pending.fence.epoch, `its ${pending.event.type} event`));
            continue;
          }
          const runId = fencedRunId(pending.event) ?? '';
          pending.reject(new EventLogError(`run ${runId} is closed (it has its completion): its ${pending.event.type} is not written`));
        }
        return;
      } catch (error) {
        // A deadlock or serialization failure rolled everything back: safe to run again.
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        if ((code === '40P01' || code === '40001') && attempt < DEADLOCK_ATTEMPTS) continue;
        const failure = error instanceof SproutError ? error : this.#db.unavailable(error, 'appending events');
        for (const pending of batch) pending.reject(failure);
        return;
      }
    }
  }

  async #transaction(client: PoolClient, all: Pending[]): Promise<{ written: Written[]; fenced: Pending[] }> {
    await client.query('BEGIN');
    try {
      const owned = await this.#checkFences(client, all);
      const { accepted: batch, fenced } = this.#fenceRuns
        ? await this.#fence(client, owned.accepted)
        : { accepted: owned.accepted, fenced: [] };
      fenced.push(...owned.fenced);
      const counts = new Map<string, number>();
      for (const { sessionId } of batch) counts.set(sessionId, (counts.get(sessionId) ?? 0) + 1);
      if (batch.length === 0) {
        await client.query('COMMIT');
        return { written: [], fenced };
      }
      const bumped = await client.query<{ session_id: string; last_seq: string }>(this.#sql.bumpSeqs, [
        [...counts.keys()],
        [...counts.values()],
      ]);
      /** The next seq to hand out per session in this batch. */
      const next = new Map<string, number>();
      const lastOf = new Map<string, number>();
      for (const row of bumped.rows) {
        const last = Number(row.last_seq);
        lastOf.set(row.session_id, last);
        next.set(row.session_id, last - counts.get(row.session_id)! + 1);
      }
      const written: Written[] = [];
      const ledger: LedgerChange[] = [];
      const runChanges: RunIndexChange[] = [];
      const at = toRfc3339(systemClock.now());
      for (const pending of batch) {
        const seq = next.get(pending.sessionId)!;
        next.set(pending.sessionId, seq + 1);
        written.push({ pending, seq });
        const change = ledgerChange(pending.sessionId, seq, pending.event);
        if (change) ledger.push(change);
        const indexed = runIndexChange(pending.sessionId, seq, pending.event, at);
        if (indexed) runChanges.push(indexed);
      }
      if (this.#retention > 0) {
        await client.query(this.#sql.insertEvents, [
          written.map((w) => w.pending.sessionId),
          written.map((w) => w.seq),
          written.map((w) => w.pending.json),
        ]);
      }
      await this.#applyLedger(client, ledger);
      await this.#runIndex.apply(client, runChanges);
      const prune = this.#pruneTargets(lastOf);
      if (prune.length > 0) {
        await client.query(this.#sql.prune, [prune.map(([id]) => id), prune.map(([, through]) => through)]);
      }
      if (this.#notify) await this.#notifyChanges(client, counts, lastOf);
      await client.query('COMMIT');
      for (const [id, through] of prune) this.#prunedThrough.set(id, through);
      return { written, fenced };
    } catch (error) {
      if (!isPostgresConnectionError(error)) await client.query('ROLLBACK').catch(noop);
      throw error;
    }
  }

  /**
   * Splits a batch into the appends whose fence (if any) is still their run's and those whose run
   * another owner took (their `run_fences` rows locked `FOR SHARE`: a claim waits for this
   * transaction, or this one sees the claim).
   */
  async #checkFences(client: PoolClient, batch: Pending[]): Promise<{ accepted: Pending[]; fenced: Pending[] }> {
    const runIds = [...new Set(batch.flatMap((pending) => (pending.fence === undefined ? [] : [pending.fence.runId])))];
    if (runIds.length === 0) return { accepted: batch, fenced: [] };
    const rows = await client.query<{ run_id: string; epoch: string }>(this.#sql.lockFences, [runIds]);
    const epochs = new Map(rows.rows.map((row) => [row.run_id, Number(row.epoch)]));
    const accepted: Pending[] = [];
    const fenced: Pending[] = [];
    for (const pending of batch) {
      if (pending.fence === undefined || epochs.get(pending.fence.runId) === pending.fence.epoch) {
        pending.fenceLost = false;
        accepted.push(pending);
      } else {
        pending.fenceLost = true;
        fenced.push(pending);
      }
    }
    return { accepted, fenced };
  }

  /**
   * Splits a batch into what may be written and the run events of closed runs (see `fenceRuns`):
   * walks the batch in order from the runs open in `open_runs` (locked `FOR SHARE`), opening on
   * `sub_session_started` and closing on `sub_session_completed`.
   */
  async #fence(client: PoolClient, batch: Pending[]): Promise<{ accepted: Pending[]; fenced: Pending[] }> {
    const runIds = [...new Set(batch.map((pending) => fencedRunId(pending.event)).filter((id): id is string => id !== undefined))];
    if (runIds.length === 0) return { accepted: batch, fenced: [] };
    const rows = await client.query<{ run_id: string }>(this.#sql.lockOpenRuns, [runIds]);
    const open = new Set(rows.rows.map((row) => row.run_id));
    const accepted: Pending[] = [];
    const fenced: Pending[] = [];
    for (const pending of batch) {
      const event = pending.event;
      if (event.type === 'sub_session_started') open.add(event.run_id);
      const runId = fencedRunId(event);
      if (runId !== undefined && !open.has(runId)) {
        fenced.push(pending);
        continue;
      }
      if (event.type === 'sub_session_completed') open.delete(event.run_id);
      accepted.push(pending);
    }
    return { accepted, fenced };
  }

  /** The ledger changes in call order; consecutive changes of one kind share a statement. */
  async #applyLedger(client: PoolClient, ledger: LedgerChange[]): Promise<void> {
    for (let i = 0; i < ledger.length;) {
      const kind = ledger[i]!.kind;
      let j = i;
      while (j < ledger.length && ledger[j]!.kind === kind) j++;
      const group = ledger.slice(i, j);
      if (kind === 'open') {
        const runs = group.map((change) => (change as Extract<LedgerChange, { kind: 'open' }>).run);
        await client.query(this.#sql.openRuns, [
          runs.map((run) => run.runId),
          runs.map((run) => run.parentSessionId),
          runs.map((run) => run.childSessionId),
          runs.map((run) => run.title ?? null),
          runs.map((run) => run.startedSeq),
        ]);
      } else {
        await client.query(this.#sql.closeRuns, [group.map((change) => (change as Extract<LedgerChange, { kind: 'close' }>).runId)]);
      }
      i = j;
    }
  }

  /** Sessions whose rows beyond retention exceed it by a tenth: `[sessionId, delete through seq]`. */
  #pruneTargets(lastOf: Map<string, number>): [string, number][] {
    const retention = this.#retention;
    if (retention === 0) return [];
    const slack = Math.max(1, Math.ceil(retention / 10));
    const targets: [string, number][] = [];
    for (const [id, last] of lastOf) {
      const through = last - retention;
      if (through - (this.#prunedThrough.get(id) ?? 0) >= slack) targets.push([id, through]);
    }
    return targets;
  }

  /** One `NOTIFY` per session of the batch (sent by PostgreSQL at commit, never before). */
  async #notifyChanges(client: PoolClient, counts: Map<string, number>, lastOf: Map<string, number>): Promise<void> {
    const payloads: string[] = [];
    for (const [sessionId, count] of counts) {
      const last = lastOf.get(sessionId)!;
      const payload = JSON.stringify({ s: sessionId, f: last - count + 1, t: last });
      if (Buffer.byteLength(payload) <= MAX_NOTIFY_PAYLOAD) payloads.push(payload);
    }
    if (payloads.length > 0) await client.query(this.#sql.notify, [this.#db.channel, payloads]);
  }

  /** Starts the listening connection (once) and resolves when `LISTEN` is in effect. */
  #listen(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#db.closedError());
    this.#listener ??= new Listener(
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

const payloadSchema = z.object({ s: z.string(), f: z.number().int(), t: z.number().int() });

/**
 * The `LISTEN` connection of a log: one dedicated client (not pooled). When it fails it reconnects
 * with a growing delay (up to 5 s) and reports `resync`, as notifications may have been missed.
 */
class Listener {
  readonly #db: PostgresDatabase;
  readonly #emit: (change: PostgresEventLogChange) => void;
  readonly #report: (error: SproutError) => void;
  #client: Client | undefined;
  #ready: Promise<void>;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: PostgresDatabase, emit: (change: PostgresEventLogChange) => void, report: (error: SproutError) => void) {
    this.#db = db;
    this.#emit = emit;
    this.#report = report;
    this.#ready = this.#connect();
    this.#ready.catch((error: unknown) => this.#lost(error));
  }

  /** Resolves once `LISTEN` is in effect (on the current connection attempt). */
  ready(): Promise<void> {
    return this.#ready;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    void client?.end().catch(noop);
  }

  async #connect(): Promise<void> {
    const client = this.#db.newClient();
    this.#client = client;
    client.on('error', (error) => this.#lost(error, client));
    client.on('notification', (message) => {
      if (message.channel !== this.#db.channel || message.payload === undefined) return;
      let parsed: z.infer<typeof payloadSchema>;
      try {
        parsed = payloadSchema.parse(JSON.parse(message.payload));
      } catch {
        return;
      }
      this.#emit({ type: 'appended', sessionId: parsed.s, fromSeq: parsed.f, toSeq: parsed.t });
    });
    try {
      await this.#db.ready();
      if (this.#stopped) return;
      await client.connect();
      await client.query(`LISTEN "${this.#db.channel}"`);
    } catch (error) {
      // Forget the client first, so its own 'error' event is not taken for a second loss.
      if (this.#client === client) this.#client = undefined;
      void client.end().catch(noop);
      throw this.#db.unavailable(error, 'listening for changes');
    }
    if (this.#stopped) void client.end().catch(noop);
  }

  #lost(error: unknown, client?: Client): void {
    if (this.#stopped || (client !== undefined && client !== this.#client)) return;
    this.#client = undefined;
    if (client) void client.end().catch(noop);
    this.#report(this.#db.unavailable(error, 'listening for changes'));
    this.#failures++;
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#ready = this.#connect();
      this.#ready.then(
        () => {
          this.#failures = 0;
          this.#emit({ type: 'resync' });
        },
        (failure: unknown) => this.#lost(failure),
      );
    }, delay);
    this.#timer.unref();
  }
}

/** The run a fenced event belongs to (events of a run after its start), else `undefined`. */
function fencedRunId(event: AgentEvent): string | undefined {
  if (event.type === 'sub_session_event' || event.type === 'sub_session_heartbeat' || event.type === 'sub_session_completed')
    return event.run_id;
  return undefined;
}
