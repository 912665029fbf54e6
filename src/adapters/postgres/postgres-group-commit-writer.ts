import type { AgentEvent, SessionEventEnvelope } from '../../../machines/agent-event.events.js';
import { SproutError } from '../../errors.js';
import type { RunFence } from '../../api/ports.js';
import { systemClock, toRfc3339 } from '../../clock.js';
import { namedStatement, type NamedStatement, type PostgresDatabase } from './postgres-database.js';
import { appendEffect } from './postgres-append-effect.js';
import type { FencedAppend, PostgresWriteFence } from './postgres-write-fence.js';

/** How often a batch whose statement deadlocked with another writer is tried again. */
const DEADLOCK_ATTEMPTS = 5;

interface Pending extends FencedAppend {
  sessionId: string;
  json: string;
  resolve(envelope: SessionEventEnvelope): void;
  reject(error: unknown): void;
}

/** The row `append_events` answers (bigint arrays come back as strings). */
export interface AppendRow {
  seqs: (string | null)[];
  lost: boolean[];
  pruned_ids: string[];
  pruned_through: string[];
}

/** What {@link PostgresGroupCommitWriter} writes with, besides the events. */
export interface PostgresGroupCommitWriterOptions {
  db: PostgresDatabase;
  /** Envelopes kept per session (`0`: none, seq still counts). */
  retention: number;
  /** Most appends in one statement. */
  maxBatch: number;
  /** `NOTIFY` the schema's channel on every commit. */
  notify: boolean;
  /** The write fence (tokens, and open runs when the log fences runs). */
  fence: PostgresWriteFence;
}

const noop = (): void => undefined;

/**
 * The write side of `PostgresEventLog`: group commit. Appends made in the same event-loop turn
 * (and those made while a batch is in flight) are written together, batches one after another,
 * so seq follows call order within this writer. Each batch is ONE statement, autocommitted: a
 * call of `append_events` (migration 6), which fences the batch, bumps `event_seqs.last_seq` of
 * each session (sessions in one fixed order, so writers never deadlock; a deadlock anyway is
 * retried), inserts the events, writes the run ledger and the run index, prunes beyond retention
 * and `NOTIFY`s once per session — so no lock is ever held across client round trips. Each append
 * settles once its statement did: a failed statement rejects every append of its batch.
 *
 * @example
 * const writer = new PostgresGroupCommitWriter({ db, retention: 1000, maxBatch: 10_000, notify: true, fence });
 * const { seq } = await writer.append('root', event, JSON.stringify(event), undefined);
 */
export class PostgresGroupCommitWriter {
  readonly #db: PostgresDatabase;
  readonly #retention: number;
  readonly #maxBatch: number;
  readonly #notify: boolean;
  readonly #fence: PostgresWriteFence;
  readonly #sql: NamedStatement;
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
    this.#fence = options.fence;
    this.#sql = namedStatement(`SELECT seqs, lost, pruned_ids, pruned_through FROM ${this.#db.quoted}.append_events(
                   $1::text[], $2::json[], $3::text[], $4::numeric[], $5::text[], $6::text[], $7::json[],
                   $8::boolean, $9::integer, $10::text[], $11::bigint[], $12::text)`);
  }

  /** Settles once every append made so far is committed or refused (never rejects). */
  get settled(): Promise<void> {
    return this.#settled;
  }

  /**
   * Queues one (validated, serialized) append for the next batch; resolves with its envelope
   * once committed.
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
    // batch; what is appended while it is in flight goes in the next.
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

  /** One statement for `batch`; settles every append of it. Never rejects. */
  async #writeBatch(batch: Pending[]): Promise<void> {
    const values = this.#values(batch);
    for (let attempt = 1; ; attempt++) {
      let row: AppendRow | undefined;
      try {
        [row] = await this.#db.query<AppendRow & Record<string, unknown>>(this.#sql, values, `appending ${batch.length} event(s)`);
      } catch (error) {
        // A deadlock or serialization failure rolled the statement back: safe to run again.
        const code = (error as { cause?: { code?: unknown } }).cause?.code;
        if ((code === '40P01' || code === '40001') && attempt < DEADLOCK_ATTEMPTS) continue;
        const failure = error instanceof SproutError ? error : this.#db.unavailable(error, 'appending events');
        for (const pending of batch) pending.reject(failure);
        return;
      }
      this.#settle(batch, row!);
      return;
    }
  }

  /**
   * One append as part of another statement (`PostgresSessionStore.saveAndAppend`): the call of
   * `append_events` with its arguments numbered from `$first`, the array ones null unless `gate`
   * (an SQL condition) holds, so the call writes nothing then; its values; and `settle`, which
   * reads the call's answer: the envelope, or throws why it was refused.
   *
   * @example
   * const { call, values, settle } = writer.single('root', event, json, fence, 22, 'true');
   */
  single(
    sessionId: string,
    event: AgentEvent,
    json: string,
    fence: RunFence | undefined,
    first: number,
    gate: string,
  ): { call: string; values: unknown[]; settle(row: AppendRow): SessionEventEnvelope } {
    const item = { sessionId, event, json, fence };
    const $ = (k: number, type: string): string => `$${first + k}::${type}`;
    const gated = (k: number, type: string): string => `CASE WHEN ${gate} THEN ${$(k, type)} END`;
    const call = `${this.#db.quoted}.append_events(
                   ${gated(0, 'text[]')}, ${gated(1, 'json[]')}, ${gated(2, 'text[]')}, ${gated(3, 'numeric[]')},
                   ${gated(4, 'text[]')}, ${gated(5, 'text[]')}, ${gated(6, 'json[]')},
                   ${$(7, 'boolean')}, ${$(8, 'integer')}, ${$(9, 'text[]')}, ${$(10, 'bigint[]')}, ${$(11, 'text')})`;
    const settle = (row: AppendRow): SessionEventEnvelope => {
      (row.pruned_ids ?? []).forEach((id, i) => this.#prunedThrough.set(id, Number(row.pruned_through[i])));
      const seq = row.seqs?.[0];
      if (seq !== null && seq !== undefined) return { seq: Number(seq), sessionId, event };
      throw this.#fence.refusal(item, row.lost?.[0] === true);
    };
    return { call, values: this.#values([item]), settle };
  }

  /** The parameters of `append_events` for `batch`. */
  #values(batch: readonly Omit<Pending, 'resolve' | 'reject'>[]): unknown[] {
    const at = toRfc3339(systemClock.now());
    const { fenceRuns, fenceEpochs, walk, runIds } = this.#fence.columns(batch);
    const sessions = [...new Set(batch.map((pending) => pending.sessionId))];
    const known = sessions.filter((id) => this.#prunedThrough.has(id));
    return [
      batch.map((pending) => pending.sessionId),
      batch.map((pending) => pending.json),
      fenceRuns,
      fenceEpochs,
      walk,
      runIds,
      batch.map((pending) => appendEffect(pending.sessionId, pending.event, at)),
      this.#fence.openRuns,
      this.#retention,
      known,
      known.map((id) => this.#prunedThrough.get(id)!),
      this.#notify ? this.#db.channel : null,
    ];
  }

  /** Resolves the written appends (in call order), then rejects the refused ones. */
  #settle(batch: Pending[], row: AppendRow): void {
    row.pruned_ids.forEach((id, i) => this.#prunedThrough.set(id, Number(row.pruned_through[i])));
    const closed: Pending[] = [];
    const lost: Pending[] = [];
    batch.forEach((pending, i) => {
      const seq = row.seqs[i];
      if (seq !== null && seq !== undefined) {
        pending.resolve({ seq: Number(seq), sessionId: pending.sessionId, event: pending.event });
      } else {
        (row.lost[i] === true ? lost : closed).push(pending);
      }
    });
    for (const pending of closed) pending.reject(this.#fence.refusal(pending, false));
    for (const pending of lost) pending.reject(this.#fence.refusal(pending, true));
  }
}
