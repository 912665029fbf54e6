import { sessionSchema, type Session } from '../../../machines/session.schema.js';
import type { AgentEvent } from '../../../machines/agent-event.events.js';
import { SessionConflictError, SproutValidationError } from '../../errors.js';
import type { SessionStore } from '../../api/ports.js';
import { describeSessionSummaryCases } from './session-summary-conformance.js';
import type { ConformanceTestApi } from './test-api.js';

/**
 * What a conformance run needs: a fresh, empty store and a way to dispose of it.
 *
 * @example
 * const create: CreateSessionStore = async () => ({ store: new MemorySessionStore() });
 */
export type CreateSessionStore = () => Promise<{ store: SessionStore; cleanup?: () => Promise<void> | void }>;

/**
 * A valid session for the suites; `overrides` replace fields. Child when a parent is given.
 *
 * @example
 * await store.save(makeSession('c1', { parent_session_id: 'root' }));
 */
export function makeSession(id: string, overrides: Partial<Session> = {}): Session {
  const parent = overrides.parent_session_id;
  return {
    id,
    title: `session ${id}`,
    kind: parent === undefined ? 'root' : 'child',
    root_session_id: parent === undefined ? id : 'root',
    spawn_depth: parent === undefined ? 0 : 1,
    model: 'test-model',
    messages: [
      { id: `${id}-m1`, role: 'system', content: 'You are helpful.', created_at: '2026-01-01T00:00:00.000Z' },
      { id: `${id}-m2`, role: 'user', content: 'Do the thing.', created_at: '2026-01-01T00:00:01.000Z' },
    ],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

function child(id: string, parent: string, extra: Partial<Session> = {}): Session {
  return makeSession(id, { parent_session_id: parent, kind: 'child', ...extra });
}

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
 * The suite every {@link SessionStore} adapter must pass (README.md, "Public API" port plus Sprout's
 * optimistic concurrency), including the optional members: `listByRunStatus` is tested whenever
 * the store has it, and its tests fail, not skip, when it is missing while the store declares
 * `capabilities.runStatusIndex` (or unless `{ listByRunStatus: false }` says it has none on
 * purpose); `listSummaries` / `countSummaries` are tested whenever the store has them (and must
 * be there when it declares `capabilities.summaries`); `capabilities.validatedLoads` is checked (each load a fresh, schema-valid copy);
 * `openEventLog`, when present, must return a working event log. Pass your test framework's
 * `describe`, `it` and `expect` (Vitest and Jest fit as they are).
 *
 * @example
 * import * as vitest from 'vitest';
 * describeSessionStoreConformance('MemorySessionStore', async () => ({ store: new MemorySessionStore() }), vitest);
 */
export function describeSessionStoreConformance(
  name: string,
  create: CreateSessionStore,
  t: ConformanceTestApi,
  options: { listByRunStatus?: boolean } = {},
): void {
  const { describe, expect } = t;
  let store: SessionStore;
  /** A test with a fresh store, disposed of afterwards. */
  const it = (title: string, body: () => Promise<void> | void): void =>
    t.it(title, async () => {
      const made = await create();
      store = made.store;
      try {
        await body();
      } finally {
        await made.cleanup?.();
      }
    });
  describe(`SessionStore conformance: ${name}`, () => {
    describe('save and load', () => {
      it('round-trips messages, metadata and unknown extra fields', async () => {
        const session = makeSession('s1', {
          metadata: { last_run_status: 'pending', note: 'kept' },
          bamboo_extra: { nested: [1, 'two', null] },
        });
        session.messages.push({
          id: 'm3',
          role: 'assistant',
          content: 'ok',
          created_at: '2026-01-01T00:00:02.000Z',
          tool_calls: [{ id: 't1' }],
        });
        await store.save(session);
        const loaded = await store.load('s1');
        expect(loaded).toEqual({ ...session, version: 1 });
        expect((loaded as Record<string, unknown>).bamboo_extra).toEqual({ nested: [1, 'two', null] });
        expect((loaded!.messages[2] as Record<string, unknown>).tool_calls).toEqual([{ id: 't1' }]);
      });

      it('resolves undefined for a missing session', async () => {
        expect(await store.load('nope')).toBeUndefined();
      });

      it('returns copies: mutating a loaded session does not change the stored one', async () => {
        await store.save(makeSession('s1', { metadata: { a: '1' } }));
        const loaded = (await store.load('s1'))!;
        loaded.title = 'mutated';
        loaded.metadata.a = 'changed';
        loaded.messages.push({ id: 'x', role: 'user', content: 'x', created_at: 'now' });
        const again = (await store.load('s1'))!;
        expect(again.title).toBe('session s1');
        expect(again.metadata).toEqual({ a: '1' });
        expect(again.messages.length).toBe(2);
        expect(again).not.toBe(loaded);
      });

      it('stores a copy: mutating the saved object afterwards does not change the stored one', async () => {
        const session = makeSession('s1');
        await store.save(session);
        session.messages[0]!.content = 'mutated';
        session.metadata.late = 'yes';
        const loaded = (await store.load('s1'))!;
        expect(loaded.messages[0]!.content).toBe('You are helpful.');
        expect(loaded.metadata).toEqual({});
      });

      it('rejects an invalid session with SproutValidationError and stores nothing', async () => {
        const bad = { ...makeSession('bad'), kind: 'grandchild' } as unknown as Session;
        const pending = store.save(bad); // must reject, not throw synchronously
        const error = await rejection(pending);
        expect(error instanceof SproutValidationError).toBe(true);
        expect((error as SproutValidationError).code).toBe('VALIDATION_FAILED');
        expect((error as SproutValidationError).subject).toBe('session');
        expect(await store.load('bad')).toBeUndefined();
        expect(bad.version).toBeUndefined();
      });

      it('leaves the stored session unchanged when an update is invalid', async () => {
        const session = makeSession('s1');
        await store.save(session);
        const broken = { ...session, messages: [{ id: '', role: 'user' }] } as unknown as Session;
        expect((await rejection(store.save(broken))) instanceof SproutValidationError).toBe(true);
        expect(await store.load('s1')).toEqual({ ...session, version: 1 });
      });
    });

    describe('delete', () => {
      it('resolves true when the session existed, then false', async () => {
        await store.save(makeSession('s1'));
        expect(await store.delete('s1')).toBe(true);
        expect(await store.load('s1')).toBeUndefined();
        expect(await store.delete('s1')).toBe(false);
      });

      it('drops a deleted child from listChildren and lets the id be saved anew', async () => {
        await store.save(child('c1', 'p'));
        await store.delete('c1');
        expect(await store.listChildren('p')).toEqual([]);
        const fresh = child('c1', 'p', { version: 5 });
        await store.save(fresh);
        expect(fresh.version).toBe(1);
      });
    });

    describe('listChildren', () => {
      it('returns only direct children, ordered by created_at then id', async () => {
        await store.save(makeSession('p'));
        await store.save(child('c-late', 'p', { created_at: '2026-01-03T00:00:00.000Z' }));
        await store.save(child('c-b', 'p', { created_at: '2026-01-02T00:00:00.000Z' }));
        await store.save(child('c-a', 'p', { created_at: '2026-01-02T00:00:00.000Z' }));
        await store.save(child('grandchild', 'c-a', { spawn_depth: 2 }));
        await store.save(child('other', 'q'));
        const children = await store.listChildren('p');
        expect(children.map((s) => s.id)).toEqual(['c-a', 'c-b', 'c-late']);
        expect(children[0]).toEqual({ ...child('c-a', 'p', { created_at: '2026-01-02T00:00:00.000Z' }), version: 1 });
        expect((await store.listChildren('c-a')).length).toBe(1);
        expect(await store.listChildren('nobody')).toEqual([]);
      });

      it('follows a child that is re-parented', async () => {
        const moving = child('c1', 'p1');
        await store.save(moving);
        moving.parent_session_id = 'p2';
        await store.save(moving);
        expect(await store.listChildren('p1')).toEqual([]);
        expect((await store.listChildren('p2')).map((s) => s.id)).toEqual(['c1']);
      });

      it('returns copies', async () => {
        await store.save(child('c1', 'p'));
        const [first] = await store.listChildren('p');
        first!.title = 'mutated';
        expect((await store.load('c1'))!.title).toBe('session c1');
      });
    });

    describe('listByRunStatus', () => {
      /** The store's listByRunStatus, or `undefined` when it has none on purpose; fails when it should have one. */
      const listByRunStatus = (): SessionStore['listByRunStatus'] => {
        if (typeof store.listByRunStatus === 'function') return store.listByRunStatus.bind(store);
        if (store.capabilities?.runStatusIndex === true) {
          throw new Error('the store declares capabilities.runStatusIndex but has no listByRunStatus()');
        }
        if (options.listByRunStatus === false) return undefined;
        throw new Error('the store has no listByRunStatus() (pass { listByRunStatus: false } to the suite if that is intended)');
      };

      it('returns child sessions whose last_run_status is one of the statuses', async () => {
        const list = listByRunStatus();
        if (!list) return;
        await store.save(makeSession('root', { metadata: { last_run_status: 'running' } }));
        await store.save(child('running', 'root', { metadata: { last_run_status: 'running' }, created_at: '2026-01-02T00:00:00.000Z' }));
        await store.save(child('pending', 'root', { metadata: { last_run_status: 'pending' } }));
        await store.save(child('done', 'root', { metadata: { last_run_status: 'completed' } }));
        await store.save(child('fresh', 'root'));
        const found = await list(['running', 'pending']);
        expect(found.map((s) => s.id)).toEqual(['pending', 'running']);
        expect(found[0]).toEqual({ ...child('pending', 'root', { metadata: { last_run_status: 'pending' } }), version: 1 });
        expect(await list([])).toEqual([]);
        expect(await list(['error'])).toEqual([]);
      });

      it('lists root sessions by run status with listRootsByRunStatus (optional), never children', async () => {
        if (typeof store.listRootsByRunStatus !== 'function') return;
        await store.save(makeSession('r-running', { metadata: { last_run_status: 'running' } }));
        await store.save(makeSession('r-done', { metadata: { last_run_status: 'completed' } }));
        await store.save(child('c-running', 'r-running', { metadata: { last_run_status: 'running' } }));
        expect((await store.listRootsByRunStatus(['running', 'pending'])).map((s) => s.id)).toEqual(['r-running']);
        expect(await store.listRootsByRunStatus([])).toEqual([]);
        const again = await store.load('r-running');
        if (!again) throw new Error('the store lost r-running');
        again.metadata.last_run_status = 'error';
        await store.save(again);
        expect(await store.listRootsByRunStatus(['running'])).toEqual([]);
      });

      it('follows status changes and deletes', async () => {
        const list = listByRunStatus();
        if (!list) return;
        const c = child('c1', 'root', { metadata: { last_run_status: 'running' } });
        await store.save(c);
        c.metadata.last_run_status = 'completed';
        await store.save(c);
        expect(await list(['running'])).toEqual([]);
        expect((await list(['completed'])).map((s) => s.version)).toEqual([2]);
        await store.delete('c1');
        expect(await list(['completed'])).toEqual([]);
      });

      it('returns copies', async () => {
        const list = listByRunStatus();
        if (!list) return;
        await store.save(child('c1', 'root', { metadata: { last_run_status: 'running' } }));
        const [first] = await list(['running']);
        first!.metadata.last_run_status = 'completed';
        expect((await list(['running'])).map((s) => s.id)).toEqual(['c1']);
        expect((await store.load('c1'))!.metadata.last_run_status).toBe('running');
      });
    });

    describeSessionSummaryCases({ describe, it, expect, store: () => store, makeSession });

    describe('capabilities', () => {
      it('declares its capabilities as booleans, or not at all', () => {
        const capabilities = store.capabilities;
        if (capabilities === undefined) return;
        expect(typeof capabilities).toBe('object');
        for (const key of ['validatedLoads', 'runStatusIndex', 'summaries'] as const) {
          expect(capabilities[key] === undefined || typeof capabilities[key] === 'boolean').toBe(true);
        }
      });

      it('validatedLoads: every load is a fresh copy that passes the session schema', async () => {
        if (store.capabilities?.validatedLoads !== true) return; // nothing promised: the scheduler validates and copies itself
        const session = makeSession('s1', { metadata: { last_run_status: 'running', note: 'kept' }, extra: { deep: [1] } });
        await store.save(session);
        const first = (await store.load('s1'))!;
        const second = (await store.load('s1'))!;
        // The scheduler uses a validated load as its working copy as is: it must be schema-valid and its own.
        expect(sessionSchema.safeParse(first).success).toBe(true);
        expect(first).toEqual({ ...session, version: 1 });
        expect(first).not.toBe(second);
        expect(first.messages).not.toBe(second.messages);
        expect(first.metadata).not.toBe(second.metadata);
        first.messages[0]!.content = 'mutated';
        first.messages.push({ id: 'x', role: 'user', content: 'x', created_at: '2026-01-01T00:00:09.000Z' });
        first.metadata.note = 'changed';
        ((first as Record<string, unknown>).extra as { deep: number[] }).deep.push(2);
        first.title = 'mutated';
        expect(second).toEqual({ ...session, version: 1 });
        expect(await store.load('s1')).toEqual({ ...session, version: 1 });
      });
    });

    describe('openEventLog', () => {
      it('when present, returns a working event log (append assigns seq per session, read returns it)', async () => {
        if (typeof store.openEventLog !== 'function') return; // optional: the scheduler then keeps events in memory
        const errors: unknown[] = [];
        const log = store.openEventLog({ retention: 10, onError: (error) => errors.push(error) });
        try {
          expect(typeof log.capabilities.durable).toBe('boolean');
          expect(typeof log.capabilities.runLedger).toBe('boolean');
          const event = (content: string): AgentEvent => ({ type: 'token', content });
          expect(await log.append('a', event('1'))).toEqual({ seq: 1, sessionId: 'a', event: event('1') });
          expect((await log.append('a', event('2'))).seq).toBe(2);
          expect((await log.append('b', event('1'))).seq).toBe(1);
          expect(await log.read('a', 1)).toEqual({
            envelopes: [{ seq: 2, sessionId: 'a', event: event('2') }],
            firstRetainedSeq: 1,
            lastSeq: 2,
          });
          expect((await log.read('a', 0)).envelopes.map((e) => e.seq)).toEqual([1, 2]);
          expect(await log.read('nobody', 0)).toEqual({ envelopes: [], firstRetainedSeq: undefined, lastSeq: 0 });
          await log.flush?.();
          // The sessions are untouched by the log, and the log by the sessions.
          await store.save(makeSession('a'));
          expect((await store.load('a'))!.version).toBe(1);
          expect((await log.read('a', 0)).lastSeq).toBe(2);
        } finally {
          await log.close?.();
        }
        expect(errors).toEqual([]);
      });
    });

    describe('optimistic concurrency', () => {
      it('starts at version 1, increments per save and writes it back into the object', async () => {
        const session = makeSession('s1');
        expect(session.version).toBeUndefined();
        await store.save(session);
        expect(session.version).toBe(1);
        await store.save(session);
        expect(session.version).toBe(2);
        expect((await store.load('s1'))!.version).toBe(2);
      });

      it('accepts any version on a first save', async () => {
        const session = makeSession('s1', { version: 41 });
        await store.save(session);
        expect(session.version).toBe(1);
      });

      it('rejects the second of two saves of the same loaded version, keeping the first', async () => {
        await store.save(makeSession('s1'));
        const a = (await store.load('s1'))!;
        const b = (await store.load('s1'))!;
        a.title = 'from a';
        b.title = 'from b';
        await store.save(a);
        const error = await store.save(b).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error instanceof SessionConflictError).toBe(true);
        const conflict = error as SessionConflictError;
        expect([conflict.code, conflict.sessionId, conflict.expectedVersion, conflict.actualVersion]).toEqual([
          'SESSION_CONFLICT',
          's1',
          1,
          2,
        ]);
        expect(b.version).toBe(1);
        const stored = (await store.load('s1'))!;
        expect(stored.title).toBe('from a');
        expect(stored.version).toBe(2);
        b.version = stored.version;
        await store.save(b);
        expect((await store.load('s1'))!.title).toBe('from b');
      });

      it('a version-less save (nothing was read first) overwrites: last write wins', async () => {
        await store.save(makeSession('s1'));
        const fresh = makeSession('s1', { title: 'rebuilt' });
        await store.save(fresh);
        expect(fresh.version).toBe(2);
        const rebuilt = (await store.load('s1'))!;
        expect([rebuilt.title, rebuilt.version]).toEqual(['rebuilt', 2]);
        // A copy read before that save is now stale and is refused.
        const stale = { ...makeSession('s1', { title: 'stale' }), version: 1 };
        const refused = (await rejection(store.save(stale))) as SessionConflictError;
        expect([refused.code, refused.expectedVersion, refused.actualVersion]).toEqual(['SESSION_CONFLICT', 1, 2]);
        expect((await store.load('s1'))!.title).toBe('rebuilt');
      });

      it('lets exactly one of several concurrent saves of the same version win', async () => {
        await store.save(makeSession('s1'));
        const copies = await Promise.all([1, 2, 3, 4].map(() => store.load('s1')));
        const results = await Promise.allSettled(copies.map((copy, i) => store.save({ ...copy!, title: `writer ${i}` })));
        expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
        for (const r of results) if (r.status === 'rejected') expect(r.reason instanceof SessionConflictError).toBe(true);
        expect((await store.load('s1'))!.version).toBe(2);
      });
    });
  });
}
