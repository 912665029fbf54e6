import { from, switchMap, throwError, type Observable } from 'rxjs';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { SproutValidationError } from '../errors.js';
import { isPromiseLike } from '../streams/maybe-promise.js';
import type { SessionEventHub } from '../streams/session-event-hub.js';

/**
 * `events(sessionId, { afterSeq })` after its arguments were checked: the session's stream,
 * replaying after `afterSeq` first. An `afterSeq` past the end of the stream is refused with
 * `SproutValidationError`: thrown at once with a log that answers at once (memory, SQLite), as the
 * stream's error with an asynchronous one.
 *
 * @example
 * sessionEvents(hub, 'root', 0).subscribe(({ seq, event }) => console.log(seq, event.type));
 */
export function sessionEvents(hub: SessionEventHub, sessionId: string, afterSeq: number | undefined): Observable<SessionEventEnvelope> {
  const stream$ = hub.events$(sessionId, afterSeq === undefined ? {} : { afterSeq });
  if (afterSeq === undefined || afterSeq <= 0) return stream$;
  const pastEnd = (lastSeq: number) =>
    new SproutValidationError('events() arguments', [
      {
        code: 'custom',
        path: ['options', 'afterSeq'],
        message: `afterSeq ${afterSeq} is past the end of the stream (last seq ${lastSeq})`,
        input: afterSeq,
      },
    ]);
  const lastSeq = hub.lastSeq(sessionId);
  if (!isPromiseLike(lastSeq)) {
    if (afterSeq > lastSeq) throw pastEnd(lastSeq);
    return stream$;
  }
  return from(Promise.resolve(lastSeq)).pipe(switchMap((last) => (afterSeq > last ? throwError(() => pastEnd(last)) : stream$)));
}
