import { z } from 'zod';
import type { Session } from '../../../machines/session.schema.js';
import { MAX_SESSION_SUMMARY_PAGE, type SessionSummary } from '../../api/session-summary.js';
import { ownRunStatus } from '../bamboo-live-state.js';
import { isLiveStatus, toBambooListSummary, type BambooLiveState, type BambooSessionSummary } from '../bamboo-session.js';
import type { ServerScheduler } from '../server-options.js';
import type { SessionCatalog } from '../session-catalog.js';
import { sessionIdSchema } from '../server-context.js';

/**
 * Bamboo's list query: `limit` (default 200, at most 1000), `offset`, `kind`, `root_session_id`.
 *
 * @example
 * const parsed = bambooListQuerySchema.safeParse(c.req.query());
 */
export const bambooListQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  offset: z.coerce.number().int().min(0).default(0),
  kind: z.enum(['root', 'child']).optional(),
  root_session_id: sessionIdSchema.optional(),
});

/** A checked Bamboo list query. */
export type BambooListQuery = z.infer<typeof bambooListQuerySchema>;

/**
 * Bamboo's session list body: the page of summaries, most recent activity first, with the
 * total and the next offset.
 *
 * @example
 * const body: BambooSessionList = { sessions: [], total: 0, limit: 200, offset: 0 };
 */
export interface BambooSessionList {
  sessions: BambooSessionSummary[];
  total: number;
  limit: number;
  offset: number;
  next_offset?: number;
}

/**
 * One page of Bamboo's session list, read from session summaries (no messages): the page in the
 * `recent` order (last activity, then creation, then id, newest first) at `offset`, the total
 * from a count, and each session's live state from the scheduler and its children's summaries.
 *
 * @example
 * return c.json(await bambooSessionList({ scheduler, catalog: ctx.catalog }, parsed.data));
 */
export async function bambooSessionList(
  deps: { scheduler: Pick<ServerScheduler, 'getChild'>; catalog: SessionCatalog },
  query: BambooListQuery,
): Promise<BambooSessionList> {
  const { limit, offset, kind, root_session_id: root } = query;
  const filter = { ...(kind === undefined ? {} : { kind }), ...(root === undefined ? {} : { root }) };
  const [page, total] = await Promise.all([
    deps.catalog.page({ ...filter, order: 'recent', offset, limit: Math.min(limit, MAX_SESSION_SUMMARY_PAGE) }),
    deps.catalog.count(filter),
  ]);
  const sessions = await Promise.all(page.items.map(async (summary) => toBambooListSummary(summary, await liveStateOf(deps, summary))));
  const next = offset + sessions.length;
  return { sessions, total, limit, offset, ...(next < total ? { next_offset: next } : {}) };
}

/** The session's own run status and its children's counts (Bamboo's `running_child_count`, `subagent_count`). */
async function liveStateOf(
  deps: { scheduler: Pick<ServerScheduler, 'getChild'>; catalog: SessionCatalog },
  summary: SessionSummary,
): Promise<BambooLiveState> {
  const children = await deps.catalog.page({ parent: summary.id, limit: MAX_SESSION_SUMMARY_PAGE });
  const statuses = await Promise.all(children.items.map((child) => ownRunStatus(deps.scheduler, asSession(child))));
  return {
    runStatus: await ownRunStatus(deps.scheduler, asSession(summary)),
    runningChildCount: statuses.filter(isLiveStatus).length,
    subagentCount: children.nextCursor === undefined ? children.items.length : await deps.catalog.count({ parent: summary.id }),
  };
}

/** A summary as a session without messages: what `ownRunStatus` reads (its id and run metadata). */
function asSession(summary: SessionSummary): Session {
  return { ...summary, messages: [] };
}
