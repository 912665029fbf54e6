// The run index (`runs`) every durable event log keeps in the same write as the events: announce →
// running → tokens → end, roots derived down a tree, forwarded copies ignored, filters, keyset
// paging newest first, bad queries refused, deleted sessions forgotten. Memory, a real SQLite file
// and a real PostgreSQL schema pass the same cases.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { PostgresSessionStore } from '../../src/adapters/postgres/postgres-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { EventLog } from '../../src/api/ports.js';
import type { RunIndex, RunRecord } from '../../src/api/run-index.js';
import { SproutValidationError } from '../../src/errors.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../support/postgres.js';

interface Opened {
  log: EventLog;
  index: RunIndex;
  close(): Promise<void>;
}

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const unavailable = await postgresUnavailable();
const requirePostgres = process.env.SPROUT_REQUIRE_POSTGRES === '1';

const adapters: { name: string; skip?: boolean; open(): Opened }[] = [
  {
    name: 'memory',
    open: () => {
      const log = new MemoryEventLog();
      return { log, index: log, close: async () => {} };
    },
  },
  {
    name: 'sqlite file',
    open: () => {
      const dir = mkdtempSync(join(tmpdir(), 'sprout-runs-'));
      dirs.push(dir);
      const store = new SqliteSessionStore({ path: join(dir, 'sprout.db') });
      const log = store.openEventLog({ retention: 1000, onError: (error) => console.error(error) });
      return { log, index: store, close: () => Promise.resolve(store.close()) };
    },
  },
  {
    name: 'postgres',
    skip: unavailable !== undefined && !requirePostgres,
    open: () => {
      const schema = createTestSchema();
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      const log = store.openEventLog({ retention: 1000, onError: (error) => console.error(error) });
      return {
        log,
        index: store,
        close: async () => {
          await store.close();
          await schema.drop();
        },
      };
    },
  },
];

const started = (parent: string, child: string, run: string, title?: string): AgentEvent => ({
  type: 'sub_session_started',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  ...(title === undefined ? {} : { title }),
});
const heartbeat = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_heartbeat',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  timestamp: '2026-01-01T00:00:05.000Z',
  events_seen: 1,
});
const completed = (parent: string, child: string, run: string, status: 'completed' | 'error' | 'cancelled', extra = {}): AgentEvent => ({
  type: 'sub_session_completed',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  status,
  ...extra,
});
const usage = (parent: string, child: string, run: string): AgentEvent => ({
  type: 'sub_session_event',
  parent_session_id: parent,
  child_session_id: child,
  run_id: run,
  event: { type: 'complete', usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } },
});

async function appendAll(log: EventLog, events: [string, AgentEvent][]): Promise<void> {
  for (const [session, event] of events) await log.append(session, event);
}

const ids = (runs: RunRecord[]): string[] => runs.map((run) => run.run_id);

for (const adapter of adapters) {
  describe.skipIf(adapter.skip === true)(`run index: ${adapter.name}`, () => {
    it('follows a run from announcement to its end, tokens included, and ignores forwarded copies', async () => {
      const { log, index, close } = adapter.open();
      try {
        await appendAll(log, [
          ['root', started('root', 'c1', 'r1', 'Research 50% of it')],
          ['root', heartbeat('root', 'c1', 'r1')],
          ['c1', started('c1', 'g1', 'r2', 'Grandchild')],
          // The grandchild's announcement forwarded to the root is not a second run.
          [
            'root',
            {
              type: 'sub_session_event',
              parent_session_id: 'root',
              child_session_id: 'c1',
              run_id: 'r1',
              event: started('c1', 'g1', 'r2'),
            },
          ],
          ['c1', completed('c1', 'g1', 'r2', 'error', { error: 'boom' })],
          ['root', usage('root', 'c1', 'r1')],
          ['root', completed('root', 'c1', 'r1', 'completed')],
        ]);
        const r1 = await index.getRun('r1');
        expect(r1).toMatchObject({
          run_id: 'r1',
          parent_session_id: 'root',
          child_session_id: 'c1',
          root_session_id: 'root',
          title: 'Research 50% of it',
          status: 'completed',
          started_at: '2026-01-01T00:00:05.000Z',
          prompt_tokens: 10,
          completion_tokens: 5,
          total_tokens: 15,
          started_seq: 1,
        });
        expect(r1?.ended_at).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect((r1?.created_at ?? '') <= (r1?.ended_at ?? '')).toBe(true);
        const r2 = await index.getRun('r2');
        expect(r2).toMatchObject({ status: 'error', error: 'boom', root_session_id: 'root', parent_session_id: 'c1' });
        expect(r2?.started_at).toBeUndefined();
        expect(await index.getRun('nope')).toBeUndefined();
        const all = await index.queryRuns({ limit: 10 });
        expect(ids(all.runs)).toEqual(['r2', 'r1']);
        expect(all.nextCursor).toBeUndefined();
      } finally {
        await close();
      }
    });

    it('filters by status, reason, root, parent, q and time, and pages newest first without gaps', async () => {
      const { log, index, close } = adapter.open();
      try {
        const events: [string, AgentEvent][] = [];
        for (let i = 0; i < 25; i++) {
          const parent = i % 2 === 0 ? 'pa' : 'pb';
          events.push([parent, started(parent, `child-${i}`, `run-${String(i).padStart(2, '0')}`, i === 7 ? 'Find_Vendors' : `task ${i}`)]);
        }
        for (let i = 0; i < 25; i += 3) {
          const parent = i % 2 === 0 ? 'pa' : 'pb';
          events.push([parent, completed(parent, `child-${i}`, `run-${String(i).padStart(2, '0')}`, 'cancelled', { reason: 'user' })]);
        }
        await appendAll(log, events);

        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await index.queryRuns({ limit: 7, ...(cursor === undefined ? {} : { cursor }) });
          seen.push(...ids(page.runs));
          cursor = page.nextCursor;
        } while (cursor !== undefined);
        expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `run-${String(24 - i).padStart(2, '0')}`));

        const cancelled = await index.queryRuns({ status: ['cancelled'], reason: 'user', limit: 100 });
        expect(ids(cancelled.runs)).toEqual(['run-24', 'run-21', 'run-18', 'run-15', 'run-12', 'run-09', 'run-06', 'run-03', 'run-00']);
        const queuedOfA = await index.queryRuns({ status: ['queued', 'running'], parent: 'pa', limit: 100 });
        expect(queuedOfA.runs.every((run) => run.parent_session_id === 'pa' && run.status === 'queued')).toBe(true);
        expect(queuedOfA.runs).toHaveLength(13 - 5);
        expect(ids((await index.queryRuns({ root: 'pb', limit: 100 })).runs)).toHaveLength(12);
        expect(ids((await index.queryRuns({ q: 'find_v', limit: 100 })).runs)).toEqual(['run-07']);
        expect(ids((await index.queryRuns({ q: 'ILD-1', limit: 3 })).runs)).toEqual(['run-19', 'run-18', 'run-17']);
        expect((await index.queryRuns({ q: '%', limit: 100 })).runs).toEqual([]);
        expect((await index.queryRuns({ since: '2999-01-01T00:00:00Z', limit: 100 })).runs).toEqual([]);
        expect((await index.queryRuns({ until: '2999-01-01T00:00:00Z', limit: 100 })).runs).toHaveLength(25);
        expect((await index.queryRuns({ model: 'gpt-x', limit: 100 })).runs).toEqual([]);
      } finally {
        await close();
      }
    });

    it('refuses invalid queries with SproutValidationError', async () => {
      const { index, close } = adapter.open();
      try {
        await expect(Promise.resolve().then(() => index.queryRuns({ limit: 0 }))).rejects.toBeInstanceOf(SproutValidationError);
        await expect(Promise.resolve().then(() => index.queryRuns({ limit: 5, cursor: 'garbage' }))).rejects.toBeInstanceOf(
          SproutValidationError,
        );
        await expect(Promise.resolve().then(() => index.queryRuns({ limit: 5, since: 'yesterday' }))).rejects.toBeInstanceOf(
          SproutValidationError,
        );
        await expect(Promise.resolve().then(() => index.queryRuns({ limit: 5, status: ['sleeping' as 'queued'] }))).rejects.toBeInstanceOf(
          SproutValidationError,
        );
      } finally {
        await close();
      }
    });

    it('forgets the runs of a deleted session', async () => {
      const { log, index, close } = adapter.open();
      try {
        await appendAll(log, [
          ['p', started('p', 'c1', 'r1')],
          ['p', started('p', 'c2', 'r2')],
        ]);
        await log.deleteSession?.('c1');
        expect(ids((await index.queryRuns({ limit: 10 })).runs)).toEqual(['r2']);
      } finally {
        await close();
      }
    });
  });
}

describe('run index: sqlite file survives a reopen', () => {
  it('answers from the file after the store is closed and opened again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-runs-'));
    dirs.push(dir);
    const path = join(dir, 'sprout.db');
    const first = new SqliteSessionStore({ path });
    const log = first.openEventLog({ retention: 1000, onError: (error) => console.error(error) });
    log.append('root', started('root', 'c1', 'r1', 'Kept'));
    log.append('root', completed('root', 'c1', 'r1', 'error', { error: 'x', reason: 'timeout' }));
    first.close();
    const second = new SqliteSessionStore({ path });
    try {
      expect(await second.getRun('r1')).toMatchObject({ status: 'error', reason: 'timeout', title: 'Kept' });
    } finally {
      second.close();
    }
  });
});
