import type { PoolClient } from 'pg';
import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { EventLogError, RunFencedError, SproutError } from '../../errors.js';
import type { RunFence } from '../../api/ports.js';
import { ledgerChange, type LedgerChange } from '../../streams/ledger-change.js';
import { runIndexChange, type RunIndexChange } from '../../streams/run-index-change.js';
import { systemClock, toRfc3339 } from '../../clock.js';
import { isPostgresConnectionError, type PostgresDatabase } from './postgres-database.js';
import type { PostgresRunIndexWriter } from './postgres-run-index.js';
import type { PostgresRunLedger } from './postgres-run-ledger.js';
import { fencedRunId, type FencedAppend, type PostgresWriteFence } from './postgres-write-fence.js';

/** NOTIFY payloads must stay under 8000 bytes; a session id longer than this gets no notification. */
const MAX_NOTIFY_PAYLOAD = 7900;

/** How often a batch whose transaction deadlocked with another writer is tried again. */
const DEADLOCK_ATTEMPTS = 5;

interface Pending extends FencedAppend {
  sessionId: string;
  json: string;
  resolve(envelope: SessionEventEnvelope): void;
  reject(error: unknown): void;
}

interface Written {
  pending: Pending;
  seq: number;
}

/** What {@link PostgresGroupCommitWriter} writes with, besides the events. */
export interface PostgresGroupCommitWriterOptions {
  db: PostgresDatabase;
  /** Envelopes kept per session (`0`: none, seq still counts). */
  retention: number;
  /** Most appends in one transaction. */
  maxBatch: number;
  /** `NOTIFY` the schema's channel on every commit. */
  notify: boolean;
  /** The run ledger, written in the same transaction. */
  ledger: PostgresRunLedger;
  /** The run index, written in the same transaction. */
  runIndex: PostgresRunIndexWriter;
  /** The write fence (tokens, and open runs when the log fences runs). */
  fence: PostgresWriteFence;
}

const noop = (): void => undefined;

/**
 * The write side of `PostgresEventLog`: group commit. Appends made in the same event-loop turn
 * (and those made while a transaction is in flight) are written in one transaction, batches one
 * after another, so seq follows call order within this writer. In that transaction it fences the
 * batch, bumps `event_seqs.last_seq` of each session (sessions in one fixed order, so writers never
 * deadlock; a deadlock anyway is retried), inserts the events, writes the run ledger and the run
 * index, prunes beyond retention, and `NOTIFY`s once per session. Each append settles once its
 * transaction did: a failed transaction rejects every append of its batch.
 *
 * @example
 * const writer = new PostgresGroupCommitWriter({ db, retention: 1000, maxBatch: 10_000, notify: true, ledger, runIndex, fence });
 * const { seq } = await writer.append('root', event, JSON.stringify(event), undefined);
 */
export class PostgresGroupCommitWriter {
  readonly #db: PostgresDatabase;
  readonly #retention: number;
  readonly #maxBatch: number;
  readonly #notify: boolean;
  readonly #ledger: PostgresRunLedger;
  readonly #runIndex: PostgresRunIndexWriter;
  readonly #fence: PostgresWriteFence;
  readonly #sql;
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

  constructor(options: PostgresGroupCommitWriterOptions) {
    this.#db = options.db;
    this.#retention = options.retention;
    this.#maxBatch = options.maxBatch;
    this.#notify = options.notify;
    this.#ledger = options.ledger;
    this.#runIndex = options.runIndex;
    this.#fence = options.fence;
    const s = this.#db.quoted;
    this.#sql = {
      // Sessions in one fixed (byte) order, so two writers lock their rows in the same order (no deadlock).
      bumpSeqs: `INSERT INTO ${s}.event_seqs (session_id, last_seq)
                 SELECT id, n FROM unnest($1::text[], $2::bigint[]) AS b(id, n) ORDER BY id COLLATE "C"
                 ON CONFLICT (session_id) DO UPDATE SET last_seq = ${s}.event_seqs.last_seq + excluded.last_seq
                 RETURNING session_id, last_seq`,
      insertEvents: `INSERT INTO ${s}.events (session_id, seq, event) SELECT * FROM unnest($1::text[], $2::bigint[], $3::json[])`,
      prune: `DELETE FROM ${s}.events e USING unnest($1::text[], $2::bigint[]) AS p(id, through)
              WHERE e.session_id = p.id AND e.seq <= p.through`,
      notify: `SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload`,
    };
  }

  /** Settles once every append made so far is committed or refused (never rejects). */
  get settled(): Promise<void> {
    return this.#settled;
  }

  /**
   * Queues one (validated, serialized) append for the next transaction; resolves with its
   * envelope once committed.
   *
   * @example
   * await writer.append('root', event, JSON.stringify(event), undefined);
   */
  append(sessionId: string, event: AgentEvent, json: string, fence: RunFence | undefined): Promise<SessionEventEnvelope> {
    const appended = new Promise<SessionEventEnvelope>((resolve, reject) => {
      this.#pending.push({ sessionId, event, json, fence, resolve, reject });
    });
    this.#settled = appended.then(noop, noop);
    this.#schedule();
    return appended;
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
      const { accepted: batch, fenced } = await this.#fence.split(client, all);
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
      await this.#ledger.apply(client, ledger);
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
}
