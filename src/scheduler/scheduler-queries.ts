import type { AgentEvent, SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { UnknownChildError } from '../errors.js';
import type { SessionStore } from '../api/ports.js';
import type { ChildRunSummary, ChildStatus, WaitPolicy } from '../api/scheduler-types.js';
import { childStatusFromRecord } from './child-status.js';
import { childSummaryFromSession } from '../core/child-summary.js';
import { findDescendantsInFlight } from './find-descendants.js';
import { lastChildEvent } from './last-child-event.js';
import { loadValidSession } from '../core/persist-run.js';
import type { RunBook } from './run-completion.js';
import { isLive } from './run-ledger.js';
import { waitForRuns } from './wait-for-children.js';

const isCompletion = (event: AgentEvent): event is SubSessionCompletedEvent => event.type === 'sub_session_completed';

/** What the queries read. */
export interface SchedulerQueryDeps {
  book: RunBook;
  store: SessionStore;
}

/**
 * The scheduler's read side, answered from the run ledgers first and the store second:
 * "is this child running, and which run?" (`liveRun`), `getChild`, `waitForChildren` and the
 * descendants `cancelTree` / `deleteSession` reach.
 *
 * @example
 * const queries = createSchedulerQueries({ book, store });
 * if (queries.hasRun('child-1')) actor.send({ type: 'scheduler.cancel', childSessionIds: ['child-1'], reason: 'user' });
 */
export function createSchedulerQueries(deps: SchedulerQueryDeps) {
  const { book, store } = deps;
  const { ledgers, hub } = book;

  /** True while the child has a queued, waiting or running run (the ledger records it before it is announced). */
  const hasRun = (childSessionId: string): boolean => ledgers.liveRun(childSessionId) !== undefined;

  /**
   * A child's status from the store. A stored `pending` / `running` that this scheduler has no run
   * for is stale (the run ended before it could write metadata, e.g. a load failure, and its
   * record was evicted): the last completion of that child on its parent's retained stream says
   * how it really ended.
   */
  const storedStatus = async (session: Session): Promise<ChildStatus> => {
    const summary = childSummaryFromSession(session);
    if ((summary.status !== 'queued' && summary.status !== 'running') || !session.parent_session_id || hasRun(session.id)) return summary;
    const event = await lastChildEvent(hub, session.parent_session_id, session.id, isCompletion);
    if (event === undefined) return summary;
    const ended: ChildStatus = { ...summary, runId: event.run_id, status: event.status };
    delete ended.error;
    delete ended.result;
    if (event.error !== undefined) ended.error = event.error;
    if (event.reason !== undefined) ended.reason = event.reason;
    if (event.result !== undefined) ended.result = event.result;
    return ended;
  };

  return {
    hasRun,

    /** Every descendant of a session with a queued, waiting or running run. */
    async descendantsInFlight(sessionId: string): Promise<Set<string>> {
      return findDescendantsInFlight(ledgers.records(), store, sessionId);
    },

    /** The child's latest run: from the registry, else from the store. */
    async getChild(childSessionId: string): Promise<ChildStatus | undefined> {
      const record = ledgers.runOf(childSessionId);
      if (record) return childStatusFromRecord(record, ledgers.tracker(record.runId, childSessionId));
      const session = await loadValidSession(store, childSessionId);
      return session ? storedStatus(session) : undefined;
    },

    /** Resolves once `policy` holds for the children (default: the parent's live runs now). */
    async waitForChildren(
      parentSessionId: string,
      policy: WaitPolicy,
      childSessionIds?: readonly string[],
      onHolds?: () => void,
    ): Promise<ChildRunSummary[]> {
      const ids =
        childSessionIds ??
        [...ledgers.records()]
          .filter((record) => record.parentSessionId === parentSessionId && isLive(record))
          .map((record) => record.childSessionId);
      const fixed = new Map<string, ChildRunSummary>();
      for (const id of ids) {
        if (ledgers.runOf(id)) continue;
        const session = await loadValidSession(store, id);
        if (!session) throw new UnknownChildError(id);
        const { childSessionId, runId, status, error, result } = await storedStatus(session);
        fixed.set(id, {
          childSessionId,
          runId,
          status,
          ...(error === undefined ? {} : { error }),
          ...(result === undefined ? {} : { result }),
        });
      }
      return waitForRuns(ledgers, ids, policy, fixed, onHolds);
    },
  };
}

/** The queries' type. */
export type SchedulerQueries = ReturnType<typeof createSchedulerQueries>;
