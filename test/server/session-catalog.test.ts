// SessionCatalog lists through the store's port only: listSummaries when the store has it, else a
// walk of the roots it was told about; and no SQL touches an adapter's tables from the server.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';
import { SproutValidationError } from '../../src/errors.js';
import { SessionCatalog } from '../../src/server/session-catalog.js';
import { makeSession } from '../../src/testing/index.js';

/** A store with only the required port methods (no listSummaries), over a memory store. */
function plainStore(inner: MemorySessionStore): SessionStore {
  return {
    load: (id) => inner.load(id),
    save: (session) => inner.save(session),
    delete: (id) => inner.delete(id),
    listChildren: (id) => inner.listChildren(id),
  };
}

async function seed(store: SessionStore): Promise<void> {
  await store.save(makeSession('r1', { created_at: '2026-01-01T00:00:01.000Z' }));
  await store.save(makeSession('c1', { parent_session_id: 'r1', root_session_id: 'r1', created_at: '2026-01-01T00:00:02.000Z' }));
  await store.save(makeSession('r2', { created_at: '2026-01-01T00:00:03.000Z' }));
}

describe('SessionCatalog', () => {
  it('pages with the store’s listSummaries, also for roots it never saw created', async () => {
    const store = new MemorySessionStore();
    await seed(store);
    const catalog = new SessionCatalog(store);
    const first = await catalog.page({ limit: 2 });
    expect(first.items.map((item) => item.id)).toEqual(['r1', 'c1']);
    expect((await catalog.page({ limit: 2, cursor: first.nextCursor })).items.map((item) => item.id)).toEqual(['r2']);
    expect(await catalog.count({ kind: 'root' })).toBe(2);
    expect((await catalog.list()).map((session) => session.messages.length)).toEqual([2, 2, 2]);
  });

  it('walks the known roots of a store without listSummaries, with the same paging and checks', async () => {
    const store = plainStore(new MemorySessionStore());
    await seed(store);
    const catalog = new SessionCatalog(store);
    expect((await catalog.page({ limit: 10 })).items).toEqual([]);
    catalog.addRoot('r1');
    catalog.addRoot('r2');
    const first = await catalog.page({ limit: 2 });
    expect(first.items.map((item) => item.id)).toEqual(['r1', 'c1']);
    expect(first.items[0]).not.toHaveProperty('messages');
    expect((await catalog.page({ limit: 2, cursor: first.nextCursor })).items.map((item) => item.id)).toEqual(['r2']);
    expect(await catalog.count({ root: 'r1' })).toBe(2);
    await expect(catalog.page({ limit: 0 })).rejects.toBeInstanceOf(SproutValidationError);
    await expect(catalog.page({ limit: 5, cursor: 'nope' })).rejects.toBeInstanceOf(SproutValidationError);
    catalog.removeRoot('r2');
    expect(await catalog.count({})).toBe(2);
  });

  it('src/server/ holds no SQL (adapters own their tables)', () => {
    const root = fileURLToPath(new URL('../../src/server/', import.meta.url));
    const files = (readdirSync(root, { recursive: true }) as string[]).filter(
      (file) => file.endsWith('.ts') && !file.includes('generated'),
    );
    const offenders = files.filter((file) =>
      /\b(SELECT|INSERT INTO|UPDATE \w+ SET|DELETE FROM)\b|\.prepare\(/.test(readFileSync(join(root, file), 'utf8')),
    );
    expect(offenders).toEqual([]);
  });
});
