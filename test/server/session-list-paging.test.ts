// GET /v1/sessions and Bamboo's GET /api/v1/sessions page session summaries (issue 21 item 2,
// issue 19 item 5): filters, cursors, bad values as 400, no messages — on a real loopback server
// with the memory store, a SQLite file and PostgreSQL; and a PostgreSQL-backed server lists the
// sessions another instance stored (the front door after a restart used to list none).
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { PostgresSessionStore } from '../../src/adapters/postgres/postgres-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';
import type { Session } from '../../src/api/wire-types.js';
import { makeSession } from '../../src/testing/index.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable, undroppedSchemas } from '../support/postgres.js';
import { api, startTestServer, tempDir, type TestServer } from './support/test-server.js';

const unavailable = await postgresUnavailable();

interface ListBody {
  sessions: (Record<string, unknown> & { id: string })[];
  next_cursor: string | null;
}
interface BambooListBody {
  sessions: (Record<string, unknown> & { id: string })[];
  total: number;
  limit: number;
  offset: number;
  next_offset?: number;
}

/** A store for one test and how to dispose of it (after the server stopped). */
type StoreFactory = () => { store: SessionStore; dispose: () => Promise<void> | void };

const factories: [string, StoreFactory, boolean][] = [
  ['memory', () => ({ store: new MemorySessionStore(), dispose: () => undefined }), true],
  [
    'SQLite file',
    () => {
      const dir = tempDir('sprout-list-');
      const store = new SqliteSessionStore(dir.file('sprout.db'));
      return { store, dispose: () => (store.close(), dir.remove()) };
    },
    true,
  ],
  [
    'PostgreSQL',
    () => {
      const schema = createTestSchema();
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      return { store, dispose: async () => (await store.close(), await schema.drop()) };
    },
    unavailable === undefined,
  ],
];

const at = (second: number): string => `2026-01-01T00:00:${String(second).padStart(2, '0')}.000Z`;

/** Two trees: r1 (c1 running, c2 completed, grandchild g1 under c1) and r2 (x1), plus roots r3…r6 with one shared created_at. */
async function seed(store: SessionStore): Promise<void> {
  const child = (id: string, parent: string, root: string, second: number, extra: Partial<Session> = {}): Session =>
    makeSession(id, {
      parent_session_id: parent,
      root_session_id: root,
      spawn_depth: 1,
      created_at: at(second),
      updated_at: at(second),
      ...extra,
    });
  await store.save(makeSession('r1', { created_at: at(1), updated_at: at(1) }));
  await store.save(child('c1', 'r1', 'r1', 2, { metadata: { last_run_status: 'running', last_run_id: 'run-c1' } }));
  await store.save(child('c2', 'r1', 'r1', 3, { metadata: { last_run_status: 'completed', last_run_id: 'run-c2' } }));
  await store.save(child('g1', 'c1', 'r1', 4, { spawn_depth: 2 }));
  await store.save(makeSession('r2', { created_at: at(5), updated_at: at(5) }));
  await store.save(child('x1', 'r2', 'r2', 6));
  for (const id of ['r6', 'r3', 'r5', 'r4']) await store.save(makeSession(id, { created_at: at(7), updated_at: at(7) }));
}

describe('paged session lists', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });
  afterAll(() => {
    expect(undroppedSchemas()).toEqual([]);
  });

  const serve = async (factory: StoreFactory): Promise<TestServer> => {
    const { store, dispose } = factory();
    cleanups.push(dispose);
    const t = await startTestServer({ store });
    cleanups.push(() => t.close());
    return t;
  };

  for (const [name, factory, enabled] of factories) {
    describe.skipIf(!enabled)(name, () => {
      it('GET /v1/sessions pages with next_cursor over ties, filters, and never sends messages', async () => {
        const t = await serve(factory);
        await seed(t.store);
        const ids: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = cursor === null ? '' : `&cursor=${cursor}`;
          const { status, body } = await api<ListBody>(`${t.url}/v1/sessions?kind=root&limit=2${query}`);
          expect(status).toBe(200);
          for (const session of body.sessions) {
            expect(session.messages).toBeUndefined();
            expect(session.message_count).toBe(2);
          }
          ids.push(...body.sessions.map((session) => session.id));
          cursor = body.next_cursor;
          pages += 1;
        } while (cursor !== null && pages < 10);
        expect(ids).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
        expect(pages).toBe(3);

        const ids$ = async (query: string): Promise<string[]> => {
          const { status, body } = await api<ListBody>(`${t.url}/v1/sessions?${query}`);
          expect(status).toBe(200);
          return body.sessions.map((session) => session.id);
        };
        expect(await ids$('parent=r1')).toEqual(['c1', 'c2']);
        expect(await ids$('parent=r1&kind=child')).toEqual(['c1', 'c2']);
        expect(await ids$('root=r1')).toEqual(['r1', 'c1', 'c2', 'g1']);
        expect(await ids$('status=running')).toEqual(['c1']);
        expect(await ids$('kind=child&limit=500')).toEqual(['c1', 'c2', 'g1', 'x1']);
        expect(await ids$('kind=root&order=recent&limit=3')).toEqual(['r6', 'r5', 'r4']);
        const { body } = await api<ListBody>(`${t.url}/v1/sessions?parent=r1`);
        expect(body.sessions[0]).toEqual(
          expect.objectContaining({
            id: 'c1',
            kind: 'child',
            parent_session_id: 'r1',
            root_session_id: 'r1',
            metadata: { last_run_status: 'running', last_run_id: 'run-c1' },
            last_run_status: 'running',
            last_run_id: 'run-c1',
            version: 1,
          }),
        );
        expect(body.next_cursor).toBeNull();
      });

      it('GET /v1/sessions answers 400 problem+json for bad limits, filters and cursors', async () => {
        const t = await serve(factory);
        await seed(t.store);
        const other = (await api<ListBody>(`${t.url}/v1/sessions?limit=1&order=recent`)).body.next_cursor;
        for (const query of [
          'limit=0',
          'limit=501',
          'limit=abc',
          'limit=1.5',
          'kind=grandchild',
          'status=sleeping',
          'order=sideways',
          'cursor=%21%21%21',
          'cursor=bm90IGpzb24',
          `cursor=${other}`,
        ]) {
          const response = await api<{ code: string; status: number }>(`${t.url}/v1/sessions?${query}`);
          expect([query, response.status, response.headers.get('content-type'), response.body.code]).toEqual([
            query,
            400,
            'application/problem+json',
            'VALIDATION_FAILED',
          ]);
        }
        expect((await api<ListBody>(`${t.url}/v1/sessions?limit=500`)).status).toBe(200);
      });

      it('GET /api/v1/sessions pages summaries by offset, newest activity first, with total and live child counts', async () => {
        const t = await serve(factory);
        await seed(t.store);
        const first = await api<BambooListBody>(`${t.url}/api/v1/sessions?kind=root&limit=4`);
        expect(first.status).toBe(200);
        expect(first.body).toMatchObject({ total: 6, limit: 4, offset: 0, next_offset: 4 });
        expect(first.body.sessions.map((session) => session.id)).toEqual(['r6', 'r5', 'r4', 'r3']);
        const second = await api<BambooListBody>(`${t.url}/api/v1/sessions?kind=root&limit=4&offset=4`);
        expect(second.body.next_offset).toBeUndefined();
        expect(second.body.sessions.map((session) => session.id)).toEqual(['r2', 'r1']);
        expect(second.body.sessions[1]).toMatchObject({ id: 'r1', subagent_count: 2, message_count: 2, kind: 'root' });
        const tree = await api<BambooListBody>(`${t.url}/api/v1/sessions?root_session_id=r1`);
        expect(tree.body.total).toBe(4);
        expect(tree.body.sessions.map((session) => session.id)).toEqual(['g1', 'c2', 'c1', 'r1']);
        expect(tree.body.sessions.find((session) => session.id === 'c1')).toMatchObject({ subagent_count: 1, parent_session_id: 'r1' });
        expect((await api(`${t.url}/api/v1/sessions?limit=0`)).status).toBe(422);
      });
    });
  }

  describe.skipIf(unavailable !== undefined)('PostgreSQL after a restart', () => {
    it('a new server instance lists the sessions another instance stored in PostgreSQL', async () => {
      const schema = createTestSchema();
      cleanups.push(() => schema.drop());
      // The first instance (another process in production) stores the sessions and goes away.
      const before = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      await seed(before);
      await before.close();
      // A new instance with a fresh store and catalog, which never saw those roots created.
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      cleanups.push(() => store.close());
      const t = await startTestServer({ store });
      cleanups.push(() => t.close());
      const roots = await api<ListBody>(`${t.url}/v1/sessions?kind=root&limit=500`);
      expect(roots.body.sessions.map((session) => session.id)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5', 'r6']);
      const bamboo = await api<BambooListBody>(`${t.url}/api/v1/sessions`);
      expect(bamboo.body.total).toBe(10);
    });
  });
});
