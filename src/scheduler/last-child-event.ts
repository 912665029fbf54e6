import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';

/** A `sub_session_*` event about one child, as its parent's stream carries it. */
type ChildEvent = Extract<AgentEvent, { child_session_id: string }>;

/**
 * The newest event about `childSessionId` still retained on its parent's stream that `match`
 * accepts (`undefined` when none is): how recovery and `getChild` learn what the parent heard of
 * a run the scheduler no longer holds.
 *
 * @example
 * const completion = await lastChildEvent(hub, 'root', 'c1', (e) => e.type === 'sub_session_completed');
 */
export async function lastChildEvent<T extends ChildEvent>(
  hub: SessionEventHub,
  parentSessionId: string,
  childSessionId: string,
  match: (event: ChildEvent) => event is T,
): Promise<T | undefined> {
  const { envelopes } = await hub.log.read(parentSessionId, 0);
  for (let i = envelopes.length - 1; i >= 0; i--) {
    const event = envelopes[i]?.event;
    if (event !== undefined && 'child_session_id' in event && event.child_session_id === childSessionId && match(event)) return event;
  }
  return undefined;
}
