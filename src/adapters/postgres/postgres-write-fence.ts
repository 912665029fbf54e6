import type { AgentEvent } from '../../../machines/agent-event.events.js';
import type { RunFence } from '../../api/ports.js';
import { EventLogError, RunFencedError, type SproutError } from '../../errors.js';

/** One append as the fence sees it: its event and the writer's ownership token of the event's run. */
export interface FencedAppend {
  event: AgentEvent;
  fence: RunFence | undefined;
}

/** How an append takes part in the open-run walk of `append_events` (`null`: it does not). */
export type FenceWalk = 'open' | 'check' | 'close';

/** The fence columns of a batch for `append_events`, aligned with the batch (call order). */
export interface FenceColumns {
  /** The run of each append's ownership token, or `null`. */
  fenceRuns: (string | null)[];
  /** The epoch of each append's ownership token, or `null`. */
  fenceEpochs: (number | null)[];
  walk: (FenceWalk | null)[];
  /** The run each walk step is about, or `null`. */
  runIds: (string | null)[];
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

/** The walk step of an event: a start opens its run, a completion closes it, a run's other events are checked. */
function walkOf(event: AgentEvent): { walk: FenceWalk; runId: string } | undefined {
  if (event.type === 'sub_session_started') return { walk: 'open', runId: event.run_id };
  const runId = fencedRunId(event);
  if (runId === undefined) return undefined;
  return { walk: event.type === 'sub_session_completed' ? 'close' : 'check', runId };
}

/**
 * The fencing of the event log's writes, done by `append_events` (migration 6) inside the one
 * statement that writes a batch, with the rows locked `FOR SHARE` until it commits (a concurrent
 * claim or close waits for it, or the statement sees it):
 *
 * - **ownership tokens** (`run_fences`): an append carrying a token is written only while its
 *   epoch is still the run's; otherwise it is refused with {@link RunFencedError};
 * - **open runs** (`open_runs`, only with `openRuns: true`, the log's `fenceRuns`): a run's
 *   `sub_session_event`, `sub_session_heartbeat` and `sub_session_completed` are written only while
 *   the run is open (walking the batch in order: a `sub_session_started` opens it, a completion
 *   closes it); otherwise refused with `EventLogError`.
 *
 * This class gives the function its fence columns and turns its verdicts into errors.
 *
 * @example
 * const fence = new PostgresWriteFence(true);
 * const { fenceRuns, fenceEpochs, walk, runIds } = fence.columns(batch);
 */
export class PostgresWriteFence {
  /** Whether the open-run check is on. */
  readonly openRuns: boolean;

  /** @param openRuns turns the open-run check on. */
  constructor(openRuns: boolean) {
    this.openRuns = openRuns;
  }

  /**
   * The fence columns of `batch` for `append_events`.
   *
   * @example
   * const columns = fence.columns([{ event, fence: { runId: 'r1', epoch: 2 } }]);
   */
  columns(batch: readonly FencedAppend[]): FenceColumns {
    const columns: FenceColumns = { fenceRuns: [], fenceEpochs: [], walk: [], runIds: [] };
    for (const { event, fence } of batch) {
      columns.fenceRuns.push(fence?.runId ?? null);
      columns.fenceEpochs.push(fence?.epoch ?? null);
      const step = walkOf(event);
      columns.walk.push(step?.walk ?? null);
      columns.runIds.push(step?.runId ?? null);
    }
    return columns;
  }

  /**
   * Why `append` was refused: its token was stale (`lost`: {@link RunFencedError}), else its run
   * was not open (`EventLogError`).
   *
   * @example
   * pending.reject(fence.refusal(pending, true));
   */
  refusal(append: FencedAppend, lost: boolean): SproutError {
    if (lost && append.fence !== undefined) {
      return new RunFencedError(append.fence.runId, append.fence.epoch, `its ${append.event.type} event`);
    }
    const runId = fencedRunId(append.event) ?? '';
    return new EventLogError(`run ${runId} is closed (it has its completion): its ${append.event.type} is not written`);
  }
}
