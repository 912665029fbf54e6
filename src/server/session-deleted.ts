import { Observable } from 'rxjs';
import type { SessionStore } from '../api/ports.js';
import type { SessionCatalog } from './session-catalog.js';
import { encodeFrame } from './sse-stream.js';

/** The item {@link endWhenDeleted} emits last when the session was deleted. */
export interface SessionDeleted {
  readonly sessionDeleted: string;
}

/** True for the {@link SessionDeleted} marker. */
export function isSessionDeleted(item: unknown): item is SessionDeleted {
  return typeof item === 'object' && item !== null && 'sessionDeleted' in item;
}

/** What {@link endWhenDeleted} asks: is the session still stored, and did this server delete it. */
export interface SessionDeletedDeps {
  readonly store: Pick<SessionStore, 'load'>;
  readonly catalog: Pick<SessionCatalog, 'deleted$'>;
}

/**
 * A session's stream that ends with a {@link SessionDeleted} marker when the session is deleted:
 * when the catalog announces the delete (`deleteSessionTree`), or when the source completes and
 * the session is gone from the store (the embedded scheduler completes a deleted session's
 * stream after its last event). A source that completes while the session exists just completes.
 *
 * @example
 * endWhenDeleted(scheduler.events(id, { afterSeq }), id, { store, catalog }).subscribe((item) =>
 *   isSessionDeleted(item) ? console.log('deleted') : console.log(item.seq));
 */
export function endWhenDeleted<T>(source$: Observable<T>, sessionId: string, deps: SessionDeletedDeps): Observable<T | SessionDeleted> {
  return new Observable<T | SessionDeleted>((subscriber) => {
    const deleted = (): void => {
      if (subscriber.closed) return;
      subscriber.next({ sessionDeleted: sessionId });
      subscriber.complete();
    };
    const announced = deps.catalog.deleted$(sessionId).subscribe(deleted);
    const subscription = source$.subscribe({
      next: (item) => subscriber.next(item),
      error: (error: unknown) => subscriber.error(error),
      complete: () => {
        deps.store.load(sessionId).then(
          (session) => (session === undefined ? deleted() : subscriber.complete()),
          (error: unknown) => subscriber.error(error),
        );
      },
    });
    return () => {
      announced.unsubscribe();
      subscription.unsubscribe();
    };
  });
}

/**
 * Sprout's final SSE frame of a deleted session: `event: session_deleted` with
 * `{"type":"session_deleted","session_id":…}` and no `id:` (the resume point stays the last event).
 *
 * @example
 * sessionDeletedFrame('c1'); // 'event: session_deleted\ndata: {"type":"session_deleted","session_id":"c1"}\n\n' as bytes
 */
export function sessionDeletedFrame(sessionId: string): Uint8Array {
  return encodeFrame(`event: session_deleted\ndata: ${JSON.stringify({ type: 'session_deleted', session_id: sessionId })}\n\n`);
}
