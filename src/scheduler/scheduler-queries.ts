import type { SchedulerContext } from '../../machines/scheduler.events.js';
import { findRunOfChild } from '../../machines/scheduler.plan.js';
import type { Session } from '../../machines/session.schema.js';
import { UnknownChildError } from '../errors.js';
import type { SessionStore } from '../api/ports.js';
import { childStatusFromRecord, childSummaryFromSession, type ChildStatus } from './child-status.js';
import { findDescendantsInFlight } from './find-descendants.js';
import { loadValidSession } from './persist-run.js';
import type { RunBook } from './run-completion.js';
import { getRun, isLive } from './run-registry.js';
import { waitForRuns, type ChildRunSummary, type WaitPolicy } from './wait-for-children.js';

/** What the queries read. */
export interface SchedulerQueryDeps {
  book: RunBook;
  store: SessionStore;
  /** The scheduler machine's current context (its queue and active runs). */
  context(): SchedulerContext;
}

/**
 * The scheduler's read side, answered from the run registry first and the store second:
 * "is this child running, and which run?" (`hasRun`), `getChild`, `waitForChildren` and the
 * descendants `cancelTree` / `deleteSession` reach.
 *
 * @example
 * const queries = createSchedulerQueries({ book, store, context: () => actor.getSnapshot().context });
 * if (queries.hasRun('child-1')) actor.send({ type: 'scheduler.cancel', childSessionIds: ['child-1'], reason: 'user' });
 */
export function createSchedulerQueries(deps: SchedulerQueryDeps) {
  const { book, store } = deps;
  const { registry, hub } = book;

  /** True while the child has a queued, waiting or running run (registry first: it is set before publish). */
  const hasRun = (childSessionId: string): boolean =>
    isLive(getRun(registry, childSessionId)) || findRunOfChild(deps.context(), childSessionId) !== undefined;

  /**
   * A child's status from the store. A stored `pending` / `running` that this scheduler has no run
   * for is stale (the run ended before it could write metadata, e.g. a load failure, and its
   * record was evicted): the last completion of that child on its parent's retained stream says
   * how it really ended.
   */
  const storedStatus = (session: Session): ChildStatus => {
    const summary = childSummaryFromSession(session);
    if ((summary.status !== 'queued' && summary.status !== 'running') || !session.parent_session_id || hasRun(session.id)) return summary;
    const { envelopes } = hub.log.read(session.parent_session_id, 0);
    for (let i = envelopes.length - 1; i >= 0; i--) {
      const event = envelopes[i]?.event;
      if (event?.type !== 'sub_session_completed' || event.child_session_id !== session.id) continue;
      const ended: ChildStatus = { ...summary, runId: event.run_id, status: event.status };
      delete ended.error;
      delete ended.result;
      if (event.error !== undefined) ended.error = event.error;
      if (event.reason !== undefined) ended.reason = event.reason;
      if (event.result !== undefined) ended.result = event.result;
      return ended;
    }
    return summary;
  };

  return {
    hasRun,

    /** Every descendant of a session with a queued, waiting or running run. */
    async descendantsInFlight(sessionId: string): Promise<Set<string>> {
      const found = await findDescendantsInFlight(deps.context(), store, sessionId);
      // Runs announced in this very turn (e.g. from a subscriber of sub_session_started) are in the
      // registry before the scheduler's context.
      for (const record of registry.getSnapshot().context.runs.values()) {
        if (isLive(record) && record.parentSessionId === sessionId) found.add(record.childSessionId);
      }
      return found;
    },

    /** The child's latest run: from the registry, else from the store. */
    async getChild(childSessionId: string): Promise<ChildStatus | undefined> {
      const record = getRun(registry, childSessionId);
      if (record) return childStatusFromRecord(record, book.trackers.get(record.runId));
      const session = await loadValidSession(store, childSessionId);
      return session ? storedStatus(session) : undefined;
    },

    /** Resolves once `policy` holds for the children (default: the parent's live runs now). */
    async waitForChildren(parentSessionId: string, policy: WaitPolicy, childSessionIds?: readonly string[]): Promise<ChildRunSummary[]> {
      const ids =
        childSessionIds ??
        [...registry.getSnapshot().context.runs.values()]
          .filter((record) => record.parentSessionId === parentSessionId && isLive(record))
          .map((record) => record.childSessionId);
      const fixed = new Map<string, ChildRunSummary>();
      for (const id of ids) {
        if (getRun(registry, id)) continue;
        const session = await loadValidSession(store, id);
        if (!session) throw new UnknownChildError(id);
        const { childSessionId, runId, status, error, result } = storedStatus(session);
        fixed.set(id, {
          childSessionId,
          runId,
          status,
          ...(error === undefined ? {} : { error }),
          ...(result === undefined ? {} : { result }),
        });
      }
      return waitForRuns(book, ids, policy, fixed);
    },
  };
}

/** The queries' type. */
export type SchedulerQueries = ReturnType<typeof createSchedulerQueries>;
