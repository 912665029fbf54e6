import type { Session } from '../../../machines/session.schema.js';
import { SproutValidationError } from '../../errors.js';
import type { SessionStore } from '../../api/ports.js';
import type { SessionSummary, SessionSummaryPage, SessionSummaryQuery } from '../../api/session-summary.js';
import type { ConformanceExpect } from './test-api.js';

/** What the summary cases need from the session-store suite: its fresh-store `it` and factory. */
export interface SummaryCaseContext {
  describe: (name: string, body: () => void) => void;
  /** A test with a fresh, empty store (disposed of afterwards). */
  it: (name: string, body: () => Promise<void> | void) => void;
  expect: ConformanceExpect;
  /** The store of the running test. */
  store: () => SessionStore;
  /** A valid session (`makeSession` of the suite). */
  makeSession: (id: string, overrides?: Partial<Session>) => Session;
}

type Lister = {
  list: (query: SessionSummaryQuery) => Promise<SessionSummaryPage>;
  count: NonNullable<SessionStore['countSummaries']>;
};

/** Resolves with what `promise` rejected with, or fails when it resolved. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the promise resolved');
}

/**
 * The `listSummaries` / `countSummaries` cases of the SessionStore conformance suite: filters,
 * both orders, keyset paging over ties, offsets, limit bounds, bad cursors, no messages, and
 * summaries that follow saves and deletes. A store without `listSummaries` passes them only when
 * it does not declare `capabilities.summaries`.
 *
 * @example
 * describeSessionSummaryCases({ describe, it, expect, store: () => store, makeSession });
 */
export function describeSessionSummaryCases(ctx: SummaryCaseContext): void {
  const { describe, it, expect, makeSession } = ctx;
  /** The store's summary methods, or `undefined` when it has none (and does not claim them). */
  const lister = (): Lister | undefined => {
    const store = ctx.store();
    if (typeof store.listSummaries === 'function' && typeof store.countSummaries === 'function') {
      return { list: store.listSummaries.bind(store), count: store.countSummaries.bind(store) };
    }
    if (store.capabilities?.summaries === true)
      throw new Error('the store declares capabilities.summaries but lacks listSummaries/countSummaries');
    return undefined;
  };
  const child = (id: string, parent: string, extra: Partial<Session> = {}): Session =>
    makeSession(id, { parent_session_id: parent, kind: 'child', spawn_depth: 1, root_session_id: 'r1', ...extra });
  /** Every id of a listing, page after page from `start` (a cursor) or the first page. */
  const all = async (
    list: Lister['list'],
    query: Omit<SessionSummaryQuery, 'cursor'>,
    start?: string,
  ): Promise<{ ids: string[]; pages: number }> => {
    const ids: string[] = [];
    let cursor: string | undefined = start;
    let pages = 0;
    do {
      const page = await list({ ...query, ...(cursor === undefined ? {} : { cursor }) });
      pages += 1;
      expect(page.items.length <= query.limit).toBe(true);
      ids.push(...page.items.map((item) => item.id));
      cursor = page.nextCursor;
      if (pages > 100) throw new Error('listSummaries never ended');
    } while (cursor !== undefined);
    return { ids, pages };
  };
  const seedTree = async (store: SessionStore): Promise<void> => {
    await store.save(makeSession('r1', { created_at: '2026-01-01T00:00:00.000Z', metadata: { last_run_status: 'completed' } }));
    await store.save(makeSession('r2', { created_at: '2026-01-01T00:00:05.000Z' }));
    await store.save(child('c1', 'r1', { created_at: '2026-01-01T00:00:01.000Z', metadata: { last_run_status: 'running' } }));
    await store.save(child('c2', 'r1', { created_at: '2026-01-01T00:00:02.000Z', metadata: { last_run_status: 'completed' } }));
    await store.save(
      child('g1', 'c1', { created_at: '2026-01-01T00:00:03.000Z', spawn_depth: 2, metadata: { last_run_status: 'running' } }),
    );
    await store.save(child('x1', 'r2', { created_at: '2026-01-01T00:00:06.000Z', root_session_id: 'r2' }));
  };

  describe('listSummaries', () => {
    it('declares capabilities.summaries when it lists summaries', () => {
      const store = ctx.store();
      if (typeof store.listSummaries === 'function') expect(store.capabilities?.summaries).toBe(true);
    });

    it('gives the summary columns of each session and never its messages', async () => {
      const l = lister();
      if (!l) return;
      const session = child('c1', 'r1', {
        title: 'Research',
        model: 'm-1',
        metadata: { last_run_status: 'error', last_run_id: 'run-1', last_run_error: 'boom', pinned: 'true' },
        created_at: '2026-01-01T00:00:00.000Z',
        updated_at: '2026-01-01T00:00:00.500Z',
      });
      session.messages.push({
        id: 'm3',
        role: 'user',
        content: 'see file',
        created_at: '2026-01-01T00:00:09.000Z',
        attachments: [{ name: 'a' }],
      });
      await ctx.store().save(session);
      await ctx
        .store()
        .save(makeSession('r1', { messages: [], created_at: '2026-01-01T00:00:01.000Z', updated_at: '2026-01-01T00:00:02.000Z' }));
      const { items, nextCursor } = await l.list({ limit: 10 });
      expect(nextCursor).toBeUndefined();
      const expected: SessionSummary = {
        id: 'c1',
        title: 'Research',
        kind: 'child',
        parent_session_id: 'r1',
        root_session_id: 'r1',
        spawn_depth: 1,
        model: 'm-1',
        metadata: { last_run_status: 'error', last_run_id: 'run-1', last_run_error: 'boom', pinned: 'true' },
        created_at: '2026-01-01T00:00:00.000Z',
        updated_at: '2026-01-01T00:00:00.500Z',
        version: 1,
        message_count: 3,
        last_message: { id: 'm3', role: 'user', created_at: '2026-01-01T00:00:09.000Z' },
        last_activity_at: '2026-01-01T00:00:09.000Z',
        has_attachments: true,
        last_run_status: 'error',
        last_run_id: 'run-1',
        last_run_error: 'boom',
      };
      expect(items[0]).toEqual(expected);
      expect(Object.keys(items[0] ?? {}).includes('messages')).toBe(false);
      expect(items[1]).toEqual({
        id: 'r1',
        title: 'session r1',
        kind: 'root',
        root_session_id: 'r1',
        spawn_depth: 0,
        model: 'test-model',
        metadata: {},
        created_at: '2026-01-01T00:00:01.000Z',
        updated_at: '2026-01-01T00:00:02.000Z',
        version: 1,
        message_count: 0,
        last_activity_at: '2026-01-01T00:00:02.000Z',
        has_attachments: false,
      });
    });

    it('filters by parent, root, kind and run status (AND), and counts the same', async () => {
      const l = lister();
      if (!l) return;
      await seedTree(ctx.store());
      const ids = async (query: Omit<SessionSummaryQuery, 'limit'>): Promise<string[]> =>
        (await l.list({ ...query, limit: 100 })).items.map((item) => item.id);
      expect(await ids({})).toEqual(['r1', 'c1', 'c2', 'g1', 'r2', 'x1']);
      expect(await ids({ kind: 'root' })).toEqual(['r1', 'r2']);
      expect(await ids({ kind: 'child' })).toEqual(['c1', 'c2', 'g1', 'x1']);
      expect(await ids({ parent: 'r1' })).toEqual(['c1', 'c2']);
      expect(await ids({ root: 'r1' })).toEqual(['r1', 'c1', 'c2', 'g1']);
      expect(await ids({ status: 'running' })).toEqual(['c1', 'g1']);
      expect(await ids({ root: 'r1', kind: 'child', status: 'completed' })).toEqual(['c2']);
      expect(await ids({ parent: 'nobody' })).toEqual([]);
      expect(await l.count({})).toBe(6);
      expect(await l.count({ kind: 'root' })).toBe(2);
      expect(await l.count({ root: 'r1', status: 'running' })).toBe(2);
      expect(await l.count({ parent: 'nobody' })).toBe(0);
    });

    it('pages with the cursor over ties in created_at: every session once, in created_at then id order', async () => {
      const l = lister();
      if (!l) return;
      const tie = '2026-01-01T00:00:00.000Z';
      const ids = ['s05', 's01', 's09', 's03', 's07', 's02', 's08', 's04', 's06'];
      for (const id of ids) await ctx.store().save(makeSession(id, { created_at: id === 's09' ? '2025-12-31T00:00:00.000Z' : tie }));
      await ctx.store().save(makeSession('late', { created_at: '2026-01-02T00:00:00.000Z' }));
      const expected = ['s09', 's01', 's02', 's03', 's04', 's05', 's06', 's07', 's08', 'late'];
      for (const limit of [1, 2, 3, 4, 10, 11]) {
        const { ids: seen, pages } = await all(l.list, { limit });
        expect(seen).toEqual(expected);
        expect(pages).toBe(Math.max(1, Math.ceil(expected.length / limit)));
      }
      // A session added behind the cursor is not seen; one added ahead of it is.
      const first = await l.list({ limit: 3 });
      await ctx.store().save(makeSession('s00', { created_at: tie }));
      await ctx.store().save(makeSession('s99', { created_at: tie }));
      const rest = await all(l.list, { limit: 3 }, first.nextCursor);
      expect([...first.items.map((item) => item.id), ...rest.ids]).toEqual([...expected.slice(0, 9), 's99', 'late']);
    });

    it('orders by recent activity (descending) and pages that order too; offsets skip rows', async () => {
      const l = lister();
      if (!l) return;
      const at = (minute: number): string => `2026-01-01T00:${String(minute).padStart(2, '0')}:00.000Z`;
      await ctx.store().save(makeSession('a', { created_at: at(1), updated_at: at(1), messages: [] }));
      await ctx.store().save(makeSession('b', { created_at: at(2), updated_at: at(2), messages: [] }));
      const c = makeSession('c', { created_at: at(3), updated_at: at(3), messages: [] });
      await ctx.store().save(c);
      await ctx.store().save(makeSession('d', { created_at: at(2), updated_at: at(2), messages: [] }));
      const a = (await ctx.store().load('a'))!;
      a.messages.push({ id: 'm1', role: 'user', content: 'again', created_at: at(9) });
      await ctx.store().save(a);
      expect((await all(l.list, { limit: 2, order: 'recent' })).ids).toEqual(['a', 'c', 'd', 'b']);
      expect((await l.list({ limit: 2, order: 'recent', offset: 1 })).items.map((item) => item.id)).toEqual(['c', 'd']);
      expect((await l.list({ limit: 2, offset: 3 })).items.map((item) => item.id)).toEqual(['c']);
      expect((await l.list({ limit: 2, offset: 2 })).nextCursor).toBeUndefined();
      expect((await l.list({ limit: 2, offset: 10 })).items).toEqual([]);
    });

    it('refuses a limit outside 1…1000 and a bad cursor with SproutValidationError', async () => {
      const l = lister();
      if (!l) return;
      await ctx.store().save(makeSession('a'));
      await ctx.store().save(makeSession('b'));
      expect((await l.list({ limit: 1000 })).items.length).toBe(2);
      const created = (await l.list({ limit: 1 })).nextCursor;
      const recent = (await l.list({ limit: 1, order: 'recent' })).nextCursor;
      expect(typeof created).toBe('string');
      const bad: SessionSummaryQuery[] = [
        { limit: 0 },
        { limit: 1001 },
        { limit: 1.5 },
        { limit: 10, cursor: 'not a cursor!' },
        { limit: 10, cursor: 'bm90IGpzb24' }, // base64url of "not json"
        { limit: 10, cursor: Buffer.from(JSON.stringify({ o: 'created', k: ['x'] })).toString('base64url') },
        { limit: 10, cursor: recent }, // a cursor of the other order
        { limit: 10, cursor: created, order: 'recent' },
        { limit: 10, cursor: created, offset: 1 },
        { limit: 10, kind: 'grandchild' as never },
      ];
      for (const query of bad) {
        const error = await rejection(l.list(query));
        expect(error instanceof SproutValidationError).toBe(true);
        expect((error as SproutValidationError).code).toBe('VALIDATION_FAILED');
      }
      expect((await rejection(l.count({ status: 'nope' as never }))) instanceof SproutValidationError).toBe(true);
    });

    it('follows saves and deletes: the summary columns change with the session', async () => {
      const l = lister();
      if (!l) return;
      const session = child('c1', 'r1', { metadata: { last_run_status: 'pending' } });
      await ctx.store().save(session);
      session.title = 'Renamed';
      session.model = 'm-2';
      session.metadata = { last_run_status: 'completed', last_run_id: 'run-2' };
      session.updated_at = '2026-01-01T00:01:00.000Z';
      session.messages.push({ id: 'm3', role: 'assistant', content: 'done', created_at: '2026-01-01T00:00:30.000Z' });
      await ctx.store().save(session);
      const [summary] = (await l.list({ limit: 5, status: 'completed' })).items;
      expect(summary).toEqual({
        id: 'c1',
        title: 'Renamed',
        kind: 'child',
        parent_session_id: 'r1',
        root_session_id: 'r1',
        spawn_depth: 1,
        model: 'm-2',
        metadata: { last_run_status: 'completed', last_run_id: 'run-2' },
        created_at: '2026-01-01T00:00:00.000Z',
        updated_at: '2026-01-01T00:01:00.000Z',
        version: 2,
        message_count: 3,
        last_message: { id: 'm3', role: 'assistant', created_at: '2026-01-01T00:00:30.000Z' },
        last_activity_at: '2026-01-01T00:01:00.000Z',
        has_attachments: false,
        last_run_status: 'completed',
        last_run_id: 'run-2',
      });
      expect((await l.list({ limit: 5, status: 'pending' })).items).toEqual([]);
      session.parent_session_id = 'r2';
      await ctx.store().save(session);
      expect((await l.list({ limit: 5, parent: 'r1' })).items).toEqual([]);
      expect((await l.list({ limit: 5, parent: 'r2' })).items.map((item) => item.id)).toEqual(['c1']);
      await ctx.store().delete('c1');
      expect((await l.list({ limit: 5 })).items).toEqual([]);
      expect(await l.count({})).toBe(0);
    });

    it('returns copies', async () => {
      const l = lister();
      if (!l) return;
      await ctx.store().save(makeSession('a', { metadata: { note: 'kept' } }));
      const [first] = (await l.list({ limit: 1 })).items;
      first!.metadata.note = 'changed';
      first!.title = 'changed';
      const [again] = (await l.list({ limit: 1 })).items;
      expect([again!.title, again!.metadata.note]).toEqual(['session a', 'kept']);
    });
  });
}
