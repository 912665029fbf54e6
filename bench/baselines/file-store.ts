/**
 * The "file store" baseline: a Bamboo-style session store — one folder per session holding
 * `session.json`, plus one `index.json` (id → title, kind, parent, status, updated_at of every
 * session) that is rewritten in full on every save. Writes are plain `writeFile` (no fsync, no
 * temp file + rename): the most generous version of the design, so the ratio is not inflated.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Session } from '../../machines/session.schema.js';
import type { SessionStore } from '../../src/api/ports.js';

interface IndexEntry {
  title: string;
  kind: string;
  parent_session_id?: string | undefined;
  last_run_status?: string | undefined;
  updated_at: string;
}

const entryOf = (session: Session): IndexEntry => ({
  title: session.title,
  kind: session.kind,
  parent_session_id: session.parent_session_id,
  last_run_status: session.metadata.last_run_status,
  updated_at: session.updated_at,
});

/** A {@link SessionStore} on plain files, the way Bamboo keeps sessions. */
export class FileSessionStore implements SessionStore {
  readonly #root: string;
  readonly #index = new Map<string, IndexEntry>();

  constructor(root: string) {
    this.#root = root;
  }

  #dir(id: string): string {
    return join(this.#root, 'sessions', encodeURIComponent(id));
  }

  async #writeIndex(): Promise<void> {
    await writeFile(join(this.#root, 'index.json'), JSON.stringify(Object.fromEntries(this.#index)));
  }

  /** Bench set-up: writes many sessions with a single index write at the end. */
  async seed(sessions: readonly Session[]): Promise<void> {
    for (const session of sessions) {
      await mkdir(this.#dir(session.id), { recursive: true });
      await writeFile(join(this.#dir(session.id), 'session.json'), JSON.stringify(session));
      this.#index.set(session.id, entryOf(session));
    }
    await this.#writeIndex();
  }

  async load(id: string): Promise<Session | undefined> {
    try {
      return JSON.parse(await readFile(join(this.#dir(id), 'session.json'), 'utf8')) as Session;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async save(session: Session): Promise<void> {
    await mkdir(this.#dir(session.id), { recursive: true });
    await writeFile(join(this.#dir(session.id), 'session.json'), JSON.stringify(session));
    this.#index.set(session.id, entryOf(session));
    await this.#writeIndex();
  }

  async delete(id: string): Promise<boolean> {
    if (!this.#index.delete(id)) return false;
    await rm(this.#dir(id), { recursive: true, force: true });
    await this.#writeIndex();
    return true;
  }

  async listChildren(parentSessionId: string): Promise<Session[]> {
    const ids = [...this.#index].filter(([, entry]) => entry.parent_session_id === parentSessionId).map(([id]) => id);
    const sessions = await Promise.all(ids.map((id) => this.load(id)));
    return sessions.filter((session): session is Session => session !== undefined);
  }
}
