import type { RunIndex, RunPage, RunQuery, RunRecord } from '../../api/run-index.js';
import type { RunIndexChange } from '../../streams/run-index-change.js';
import { encodeRunCursor, parseRunQuery } from '../run-index-query.js';

interface Entry {
  position: number;
  run: RunRecord;
  deleted?: true;
}

/**
 * The run index in memory (what `MemoryEventLog` keeps): runs by id and in announcement order.
 * `apply` is O(1); a query walks the runs newest first until its page is full, so a selective
 * filter over many runs costs a scan (the SQL adapters answer from indexes). The model is not
 * known here (the log never sees sessions).
 *
 * @example
 * const index = new MemoryRunIndex();
 * index.apply(runIndexChange('p', 1, startedEvent, now)!);
 * index.queryRuns({ parent: 'p', limit: 10 }).runs; // [the run]
 */
export class MemoryRunIndex implements RunIndex {
  readonly #byId = new Map<string, Entry>();
  /** Entries in position order (a deleted one stays, marked, until holes pile up). */
  #order: Entry[] = [];
  #holes = 0;
  #next = 1;
  /** The root of each child session's latest indexed run. */
  readonly #rootOf = new Map<string, string>();

  /**
   * Applies one change (unknown runs are ignored, a repeated announcement keeps the first).
   *
   * @example
   * index.apply({ kind: 'running', runId: 'r1', at: now });
   */
  apply(change: RunIndexChange): void {
    if (change.kind === 'announce') {
      if (this.#byId.has(change.runId)) return;
      const run: RunRecord = {
        run_id: change.runId,
        parent_session_id: change.parentSessionId,
        child_session_id: change.childSessionId,
        root_session_id: this.#rootOf.get(change.parentSessionId) ?? change.parentSessionId,
        status: 'queued',
        created_at: change.at,
        started_seq: change.seq,
      };
      if (change.title !== null) run.title = change.title;
      const entry = { position: this.#next++, run };
      this.#byId.set(change.runId, entry);
      this.#order.push(entry);
      this.#rootOf.set(change.childSessionId, run.root_session_id);
      return;
    }
    const run = this.#byId.get(change.runId)?.run;
    if (run === undefined) return;
    if (change.kind === 'running') {
      if (run.status === 'queued') {
        run.status = 'running';
        run.started_at = change.at;
      }
    } else if (change.kind === 'usage') {
      run.prompt_tokens = change.prompt;
      run.completion_tokens = change.completion;
      run.total_tokens = change.total;
    } else {
      run.status = change.status as RunRecord['status'];
      if (change.reason !== null) run.reason = change.reason;
      if (change.error !== null) run.error = change.error;
      run.ended_at = change.at;
      run.ended_seq = change.seq;
    }
  }

  /**
   * Forgets the runs a deleted session announced or ran.
   *
   * @example
   * index.deleteSession('c1');
   */
  deleteSession(sessionId: string): void {
    for (const [runId, entry] of this.#byId) {
      if (entry.run.parent_session_id !== sessionId && entry.run.child_session_id !== sessionId) continue;
      this.#byId.delete(runId);
      entry.deleted = true;
      this.#holes++;
    }
    this.#rootOf.delete(sessionId);
    if (this.#holes > 1024 && this.#holes > this.#order.length / 2) {
      this.#order = this.#order.filter((entry) => entry.deleted !== true);
      this.#holes = 0;
    }
  }

  /**
   * One page of runs, newest first (copies).
   *
   * @example
   * const { runs, nextCursor } = index.queryRuns({ status: ['error'], limit: 20 });
   */
  queryRuns(query: RunQuery): RunPage {
    const { filter, limit, before } = parseRunQuery(query);
    const statuses = filter.status === undefined ? undefined : new Set<string>(filter.status);
    const q = filter.q?.toLowerCase();
    const runs: RunRecord[] = [];
    let last: number | undefined;
    for (let i = this.#order.length - 1; i >= 0; i--) {
      const entry = this.#order[i];
      if (entry === undefined || entry.deleted === true || (before !== undefined && entry.position >= before)) continue;
      const run = entry.run;
      if (statuses !== undefined && !statuses.has(run.status)) continue;
      if (filter.reason !== undefined && run.reason !== filter.reason) continue;
      if (filter.root !== undefined && run.root_session_id !== filter.root) continue;
      if (filter.parent !== undefined && run.parent_session_id !== filter.parent) continue;
      if (filter.child !== undefined && run.child_session_id !== filter.child) continue;
      if (filter.model !== undefined && run.model !== filter.model) continue;
      if (filter.since !== undefined && run.created_at < filter.since) continue;
      if (filter.until !== undefined && run.created_at >= filter.until) continue;
      if (q !== undefined && !run.child_session_id.toLowerCase().includes(q) && !(run.title ?? '').toLowerCase().includes(q)) continue;
      if (runs.length === limit) return { runs, nextCursor: encodeRunCursor(last!) };
      runs.push({ ...run });
      last = entry.position;
    }
    return { runs };
  }

  /**
   * One run by id (a copy), or `undefined`.
   *
   * @example
   * index.getRun('r1')?.status;
   */
  getRun(runId: string): RunRecord | undefined {
    const entry = this.#byId.get(runId);
    return entry === undefined ? undefined : { ...entry.run };
  }
}
