import type { Session } from '../../machines/session.schema.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

/** A memory store whose `load` / `save` fail on demand (to test store failures). */
export class FlakyStore extends MemorySessionStore {
  failLoad: ((id: string) => Error | undefined) | undefined;
  failSave: ((session: Session) => Error | undefined) | undefined;
  /**
   * Makes a save slow: when it returns a promise, the save waits for it (a promise that never
   * settles hangs the save for good) and only then fails (`failSave`) or writes.
   */
  holdSave: ((session: Session) => Promise<void> | undefined) | undefined;

  override async load(id: string): Promise<Session | undefined> {
    const error = this.failLoad?.(id);
    if (error) throw error;
    return super.load(id);
  }

  override async save(session: Session): Promise<void> {
    const held = this.holdSave?.(session);
    if (held) await held;
    const error = this.failSave?.(session);
    if (error) throw error;
    return super.save(session);
  }
}
