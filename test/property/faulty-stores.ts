import type { RunStatusMetadata, Session } from '../../machines/session.schema.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';

/** What an injected store fault does to one call. */
export type StoreFault = 'reject' | 'throw' | 'hang' | 'garbage';

/** The error an injected `reject` / `throw` fault raises (recognisable in checks). */
export class InjectedStoreError extends Error {
  constructor(op: string, index: number) {
    super(`injected store fault: ${op} #${index}`);
    this.name = 'InjectedStoreError';
  }
}

/** Garbage a faulty `load` / list call resolves with instead of sessions. */
const garbage: readonly unknown[] = [42, 'not a session', { id: 1, kind: 'child' }, [null], Object.create(null) as unknown];

/**
 * Decides, by call number (counted over every load / save / delete / listChildren call once
 * armed), which calls fault and how; remembers the session ids a fault touched.
 */
export class FaultPlan {
  readonly #faults: ReadonlyMap<number, StoreFault>;
  #calls = 0;
  armed = false;
  /** Session ids whose load or save was faulted (metadata checks skip them). */
  readonly touched = new Set<string>();
  /** Faults that fired, in order. */
  readonly fired: { index: number; op: string; id: string; fault: StoreFault }[] = [];

  #startGarbage: { value: unknown } | undefined;

  /** `startGarbage`: what the first `listByRunStatus` (recovery in `start()`) resolves with instead of sessions. */
  constructor(faults: readonly (readonly [number, StoreFault])[], startGarbage?: { value: unknown }) {
    this.#faults = new Map(faults);
    this.#startGarbage = startGarbage;
  }

  /** Recovery's listing: garbage once when planned, else the real one. */
  list<T>(real: () => Promise<T>): Promise<T> {
    const planned = this.#startGarbage;
    this.#startGarbage = undefined;
    return planned === undefined ? real() : Promise.resolve(planned.value as T);
  }

  /** Runs `real` or the fault planned for this call. */
  run<T>(op: string, id: string, real: () => Promise<T>): Promise<T> {
    if (!this.armed) return real();
    const index = this.#calls++;
    const fault = this.#faults.get(index);
    if (fault === undefined) return real();
    this.touched.add(id);
    this.fired.push({ index, op, id, fault });
    switch (fault) {
      case 'reject':
        return Promise.reject(new InjectedStoreError(op, index));
      case 'throw':
        throw new InjectedStoreError(op, index);
      case 'hang':
        return new Promise<T>(() => {});
      case 'garbage': {
        const junk = garbage[index % garbage.length];
        // A save still happens (a store that answers oddly); reads return junk.
        if (op === 'save' || op === 'delete') return real().then(() => junk as T);
        return Promise.resolve(junk as T);
      }
    }
  }
}

/** A memory store with planned faults. */
export class FaultyMemoryStore extends MemorySessionStore {
  constructor(readonly plan: FaultPlan) {
    super();
  }
  override load(id: string): Promise<Session | undefined> {
    return this.plan.run('load', id, () => super.load(id));
  }
  override save(session: Session): Promise<void> {
    return this.plan.run('save', String(session.id), () => super.save(session));
  }
  override delete(id: string): Promise<boolean> {
    return this.plan.run('delete', id, () => super.delete(id));
  }
  override listChildren(parentSessionId: string): Promise<Session[]> {
    return this.plan.run('listChildren', parentSessionId, () => super.listChildren(parentSessionId));
  }
  override listByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return this.plan.list(() => super.listByRunStatus(statuses));
  }
}

/** A SQLite store with planned faults (still a SqliteSessionStore, so the SQLite event log is used). */
export class FaultySqliteStore extends SqliteSessionStore {
  constructor(
    path: string,
    readonly plan: FaultPlan,
  ) {
    super(path);
  }
  override load(id: string): Promise<Session | undefined> {
    return this.plan.run('load', id, () => super.load(id));
  }
  override save(session: Session): Promise<void> {
    return this.plan.run('save', String(session.id), () => super.save(session));
  }
  override delete(id: string): Promise<boolean> {
    return this.plan.run('delete', id, () => super.delete(id));
  }
  override listChildren(parentSessionId: string): Promise<Session[]> {
    return this.plan.run('listChildren', parentSessionId, () => super.listChildren(parentSessionId));
  }
  override listByRunStatus(statuses: readonly RunStatusMetadata[]): Promise<Session[]> {
    return this.plan.list(() => super.listByRunStatus(statuses));
  }
}
