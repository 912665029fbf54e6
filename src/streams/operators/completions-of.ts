import { filter, map, type OperatorFunction } from 'rxjs';
import type { SessionEventEnvelope, SubSessionCompletedEvent } from '../../../machines/agent-event.events.js';

/**
 * The `sub_session_completed` events of a parent's stream (optionally of one child), unwrapped
 * from their envelopes.
 *
 * @example
 * scheduler.events('root').pipe(completionsOf()).subscribe((c) => console.log(c.child_session_id, c.status));
 */
export function completionsOf(childSessionId?: string): OperatorFunction<SessionEventEnvelope, SubSessionCompletedEvent> {
  return (source) =>
    source.pipe(
      map((envelope) => envelope.event),
      filter((event): event is SubSessionCompletedEvent => event.type === 'sub_session_completed'),
      filter((event) => childSessionId === undefined || event.child_session_id === childSessionId),
    );
}
