import type { PoolClient } from 'pg';
import type { AgentEvent } from '../../../machines/agent-event.events.js';
import type { RunFence } from '../../api/ports.js';

/** One append as the fence sees it: its event and the writer's ownership token of the event's run. */
export interface FencedAppend {
  event: AgentEvent;
  fence: RunFence | undefined;
  /** Set by {@link PostgresWriteFence.split}: the token was found not to be the run's any more. */
  fenceLost?: boolean;
}

/** What may be written of a batch, and what is refused (in call order). */
export interface FenceSplit<T> {
  accepted: T[];
  fenced: T[];
}

/**
 * The run of an event the open-run fence checks (events of a run after its start), else `undefined`.
 *
 * @example
 * fencedRunId({ type: 'sub_session_heartbeat', parent_session_id: 'p', child_session_id: 'c', run_id: 'r1' }); // 'r1'
 */
export function fencedRunId(event: AgentEvent): string | undefined {
  if (event.type === 'sub_session_event' || event.type === 'sub_session_heartbeat' || event.type === 'sub_session_completed')
    return event.run_id;
  return undefined;
}

/**
 * The fencing of the event log's write transaction, both checks made on the transaction's client
 * with the rows locked `FOR SHARE` until commit (a concurrent claim or close waits for it, or this
 * transaction sees it):
 *
 * - **ownership tokens** (`run_fences`): an append carrying a token is written only while its
 *   epoch is still the run's;
 * - **open runs** (`open_runs`, only with `openRuns: true`, the log's `fenceRuns`): a run's
 *   `sub_session_event`, `sub_session_heartbeat` and `sub_session_completed` are written only while
 *   the run is open (walking the batch in order: a `sub_session_started` opens it, a completion
 *   closes it).
 *
 * @example
 * const fence = new PostgresWriteFence('"sprout"', true);
 * const { accepted, fenced } = await fence.split(client, batch); // inside BEGIN … COMMIT
 */
export class PostgresWriteFence {
  readonly #openRuns: boolean;
  readonly #sql;

  /** @param s the quoted schema name; `openRuns` turns the open-run check on. */
  constructor(s: string, openRuns: boolean) {
    this.#openRuns = openRuns;
    this.#sql = {
      lockFences: `SELECT run_id, epoch FROM ${s}.run_fences WHERE run_id = ANY($1::text[]) FOR SHARE`,
      lockOpenRuns: `SELECT run_id FROM ${s}.open_runs WHERE run_id = ANY($1::text[]) FOR SHARE`,
    };
  }

  /**
   * Splits `batch` into what may be written and what is refused: first the token check (refused
   * appends get `fenceLost: true`), then the open-run check on what is left.
   *
   * @example
   * const { accepted, fenced } = await fence.split(client, batch);
   */
  async split<T extends FencedAppend>(client: PoolClient, batch: T[]): Promise<FenceSplit<T>> {
    const owned = await this.#checkTokens(client, batch);
    if (!this.#openRuns) return owned;
    const open = await this.#checkOpen(client, owned.accepted);
    open.fenced.push(...owned.fenced);
    return open;
  }

  async #checkTokens<T extends FencedAppend>(client: PoolClient, batch: T[]): Promise<FenceSplit<T>> {
    const runIds = [...new Set(batch.flatMap((pending) => (pending.fence === undefined ? [] : [pending.fence.runId])))];
    if (runIds.length === 0) return { accepted: batch, fenced: [] };
    const rows = await client.query<{ run_id: string; epoch: string }>(this.#sql.lockFences, [runIds]);
    const epochs = new Map(rows.rows.map((row) => [row.run_id, Number(row.epoch)]));
    const accepted: T[] = [];
    const fenced: T[] = [];
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

  async #checkOpen<T extends FencedAppend>(client: PoolClient, batch: T[]): Promise<FenceSplit<T>> {
    const runIds = [...new Set(batch.map((pending) => fencedRunId(pending.event)).filter((id): id is string => id !== undefined))];
    if (runIds.length === 0) return { accepted: batch, fenced: [] };
    const rows = await client.query<{ run_id: string }>(this.#sql.lockOpenRuns, [runIds]);
    const open = new Set(rows.rows.map((row) => row.run_id));
    const accepted: T[] = [];
    const fenced: T[] = [];
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
}
