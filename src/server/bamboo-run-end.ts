import { EMPTY, filter, map, type Observable } from 'rxjs';
import type { AgentEvent, SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { ServerScheduler } from './server-options.js';

/**
 * The ends of a child session's runs as its parent's stream announces them: each
 * `sub_session_completed` naming this child, live from the subscription on (nothing for a root).
 * A child's own stream has no terminal event for a run that never started its agent (cancelled
 * while queued, skipped); its parent hears of every end, so a Bamboo stream of the child can
 * still end with {@link terminalOfCompletion}.
 *
 * @example
 * announcedEnds(scheduler, child).subscribe((completion) => console.log(completion.status));
 */
export function announcedEnds(scheduler: Pick<ServerScheduler, 'events'>, session: Session): Observable<SubSessionCompletedEvent> {
  const parentId = session.parent_session_id;
  if (parentId === undefined) return EMPTY;
  return scheduler.events(parentId).pipe(
    map((envelope) => envelope.event),
    filter((event): event is SubSessionCompletedEvent => event.type === 'sub_session_completed' && event.child_session_id === session.id),
  );
}

/**
 * The terminal event a run's own stream would have ended with, made from its announced end:
 * `complete` (no usage known), `error` with the run's error, or the cancel's `error` (`run
 * cancelled (reason: R)`, which the Bamboo dialects turn into `cancelled` / Bamboo's text).
 *
 * @example
 * terminalOfCompletion({ type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', status: 'cancelled', reason: 'user' });
 * // { type: 'error', message: 'run cancelled (reason: user)' }
 */
export function terminalOfCompletion(completion: SubSessionCompletedEvent): AgentEvent {
  switch (completion.status) {
    case 'completed':
      return { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
    case 'cancelled':
      return { type: 'error', message: `run cancelled (reason: ${completion.reason ?? 'user'})` };
    default:
      return { type: 'error', message: completion.error ?? `run ended ${completion.status}` };
  }
}
