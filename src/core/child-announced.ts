import type { EventLog } from '../streams/event-log.js';

/**
 * True when the parent's retained stream announces a run of the child (`sub_session_started`)
 * other than `exceptRunId`: someone else ran it, so it is theirs now — what a refused
 * `spawnChild` asks before it deletes the child it saved. A stream pruned past the announcement
 * answers false.
 *
 * @example
 * if (!(await childAnnounced(log, 'root', 'child-1', plannedRunId))) await store.delete('child-1');
 */
export async function childAnnounced(
  log: Pick<EventLog, 'read'>,
  parentSessionId: string,
  childSessionId: string,
  exceptRunId: string,
): Promise<boolean> {
  const { envelopes } = await log.read(parentSessionId, 0);
  return envelopes.some(
    ({ event }) => event.type === 'sub_session_started' && event.child_session_id === childSessionId && event.run_id !== exceptRunId,
  );
}
