import { METADATA_KEYS, type Session } from '../../machines/session.schema.js';
import { isLiveStatus, type BambooLiveState } from './bamboo-session.js';
import type { ServerScheduler } from './server-scheduler.js';

/**
 * The status of a session's own latest run: `scheduler.getChild` for a session whose stored
 * `last_run_status` is still `pending` / `running` (a stored end is final, so it costs no
 * look-up). A run that `run()` saved but did not queue yet (stored `last_run_id` newer than the
 * one the scheduler reports) reads `queued`.
 *
 * @example
 * const status = await ownRunStatus(scheduler, session); // 'running' | 'completed' | … | undefined
 */
export async function ownRunStatus(
  scheduler: Pick<ServerScheduler, 'getChild'>,
  session: Pick<Session, 'id' | 'metadata'>,
): Promise<string | undefined> {
  const stored = session.metadata[METADATA_KEYS.status];
  if (!isLiveStatus(stored)) return stored;
  const child = await scheduler.getChild(session.id);
  if (child === undefined) return stored;
  const storedRun = session.metadata[METADATA_KEYS.runId];
  if (storedRun !== undefined && storedRun !== child.runId && !isLiveStatus(child.status)) return 'queued';
  return child.status;
}

/**
 * The live state of every session of a listing, for `toBambooSummary`: each session's own run
 * status, and per parent how many children it has and how many of them run (counted over the
 * whole listing, as Bamboo does, before any filter or page).
 *
 * @example
 * const states = await bambooLiveStates(scheduler, sessions);
 * sessions.map((session) => toBambooSummary(session, states.get(session.id)));
 */
export async function bambooLiveStates(
  scheduler: Pick<ServerScheduler, 'getChild'>,
  sessions: readonly Session[],
): Promise<Map<string, BambooLiveState>> {
  const statuses = new Map<string, string | undefined>();
  for (const session of sessions) statuses.set(session.id, await ownRunStatus(scheduler, session));
  const children = new Map<string, { all: number; running: number }>();
  for (const session of sessions) {
    if (session.parent_session_id === undefined) continue;
    const counts = children.get(session.parent_session_id) ?? { all: 0, running: 0 };
    counts.all += 1;
    if (isLiveStatus(statuses.get(session.id))) counts.running += 1;
    children.set(session.parent_session_id, counts);
  }
  const states = new Map<string, BambooLiveState>();
  for (const session of sessions) {
    const counts = children.get(session.id);
    states.set(session.id, {
      runStatus: statuses.get(session.id),
      runningChildCount: counts?.running ?? 0,
      subagentCount: counts?.all ?? 0,
    });
  }
  return states;
}
