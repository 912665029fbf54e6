import type { RunStatusMetadata, Session } from '../../machines/session.schema.js';

/**
 * Where sessions live (DESIGN §2 port). `save` replaces the whole session. Adapters may check
 * `session.version` for optimistic concurrency (see {@link SessionConflictError}) and then
 * write the new version back into the object they were given.
 *
 * @example
 * const store: SessionStore = new MemorySessionStore();
 * await store.save(session);
 * const again = await store.load(session.id);
 */
export interface SessionStore {
  load(id: string): Promise<Session | undefined>;
  save(session: Session): Promise<void>;
  delete(id: string): Promise<boolean>;
  listChildren(parentSessionId: string): Promise<Session[]>;
  /**
   * Child sessions whose metadata `last_run_status` is one of `statuses` (used by recovery in
   * `start()`). Optional: a store without it gets no recovery.
   */
  listByRunStatus?(statuses: readonly RunStatusMetadata[]): Promise<Session[]>;
}
