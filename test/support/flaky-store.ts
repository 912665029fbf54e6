import type { Session } from '../../machines/session.schema.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

/** A memory store whose `load` / `save` fail on demand (to test store failures). */
export class FlakyStore extends MemorySessionStore {
  failLoad: ((id: string) => Error | undefined) | undefined;
  failSave: ((session: Session) => Error | undefined) | undefined;

  override async load(id: string): Promise<Session | undefined> {
    const error = this.failLoad?.(id);
    if (error) throw error;
    return super.load(id);
  }

  override async save(session: Session): Promise<void> {
    const error = this.failSave?.(session);
    if (error) throw error;
    return super.save(session);
  }
}
