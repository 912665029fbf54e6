/**
 * list: the latency of one page of the session list at 10,000 and 100,000 sessions in a SQLite
 * file (issue 21 item 2): `GET /v1/sessions?kind=root&limit=50` through the server (in process,
 * no socket) and `listSummaries` pages walked with the cursor, p50 and p95 per run; against the
 * baseline of the old listing (every session's JSON read and checked), timed at the smaller size.
 * Seeded with one transaction of saves through the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionSchema, type Session } from '../../machines/session.schema.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { median, percentile, sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { tokenAgent } from '../lib/fixtures.js';

const PAGE = 50;

/** Session `i`: every 10th a root, the others children of the root before them; 4 messages each. */
function sessionAt(i: number): Session {
  const rootIndex = i - (i % 10);
  const root = `root-${String(rootIndex).padStart(7, '0')}`;
  const id = i % 10 === 0 ? root : `child-${String(i).padStart(7, '0')}`;
  // Four sessions share each millisecond: ties in created_at, ordered by id.
  const created = new Date(Date.UTC(2026, 0, 1) + Math.floor(i / 4)).toISOString();
  return {
    id,
    title: `Session ${i}`,
    kind: i % 10 === 0 ? 'root' : 'child',
    ...(i % 10 === 0 ? {} : { parent_session_id: root }),
    root_session_id: root,
    spawn_depth: i % 10 === 0 ? 0 : 1,
    model: 'bench-model',
    messages: Array.from({ length: 4 }, (_, m) => ({
      id: `${id}-m${m}`,
      role: m % 2 ? ('assistant' as const) : ('user' as const),
      content: 'lorem ipsum '.repeat(20),
      created_at: created,
    })),
    metadata: i % 10 === 0 ? {} : { last_run_status: 'completed', last_run_id: `run-${i}` },
    created_at: created,
    updated_at: created,
  };
}

/** Saves `count` sessions in one transaction (the saves run synchronously inside it). */
async function seed(store: SqliteSessionStore, count: number): Promise<void> {
  const db = store.database;
  db.exec('BEGIN');
  try {
    const saves: Promise<void>[] = [];
    for (let i = 0; i < count; i++) saves.push(store.save(sessionAt(i)));
    await Promise.all(saves);
    db.exec('COMMIT');
  } catch (error) {
    db.exec('ROLLBACK');
    throw error;
  }
}

/** Milliseconds of each of `count` calls of `body`. */
async function timeEach(count: number, body: (i: number) => Promise<void>): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const start = performance.now();
    await body(i);
    times.push(performance.now() - start);
  }
  return times;
}

/** Measures one size: route pages and cursor-walked store pages (p50/p95 per run), and the old full read. */
async function measure(config: BenchConfig, dir: string, size: number, withBaseline: boolean) {
  const store = new SqliteSessionStore(join(dir, `list-${size}.db`));
  const scheduler = createSpawnScheduler({ store, agent: tokenAgent(), heartbeatIntervalMs: 60_000 });
  try {
    const seeding = performance.now();
    await seed(store, size);
    config.log(`list: seeded ${size} sessions in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    await scheduler.start();
    const server = createSproutServer({ scheduler, store });
    const requests = config.mode === 'smoke' ? 20 : 200;
    const route = await sample(config.runs, 1, async () => {
      const times = await timeEach(requests, async () => {
        const response = await server.fetch(new Request(`http://127.0.0.1/v1/sessions?kind=root&limit=${PAGE}`));
        const body = (await response.json()) as { sessions: unknown[] };
        if (response.status !== 200 || body.sessions.length !== Math.min(PAGE, Math.ceil(size / 10))) throw new Error('bad page');
      });
      return { p50: percentile(times, 50), p95: percentile(times, 95) };
    });
    const walk = await sample(config.runs, 1, async () => {
      let cursor: string | undefined;
      const times = await timeEach(requests, async () => {
        const page = await store.listSummaries({ limit: PAGE, ...(cursor === undefined ? {} : { cursor }) });
        cursor = page.nextCursor;
      });
      return { p50: percentile(times, 50), p95: percentile(times, 95) };
    });
    // RSS while the page is polled (a dashboard polling it): measured after a warm-up, with a GC
    // before each reading; the growth over many more requests should stay near zero.
    const gc = (globalThis as { gc?: () => void }).gc;
    const polls = config.mode === 'smoke' ? 100 : 2000;
    const poll = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++)
        await (await server.fetch(new Request(`http://127.0.0.1/v1/sessions?kind=root&limit=${PAGE}`))).arrayBuffer();
    };
    await poll(polls / 4);
    gc?.();
    const rssBefore = process.memoryUsage().rss;
    await poll(polls);
    gc?.();
    const rssGrowthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    let fullRead: number[] = [];
    if (withBaseline) {
      // The old SessionCatalog.list(): every row's JSON read, parsed and checked, then listed.
      const readAll = (): number => {
        const start = performance.now();
        const rows = store.database.prepare('SELECT json FROM sessions ORDER BY created_at, id').all() as { json: string }[];
        let valid = 0;
        for (const row of rows) if (sessionSchema.safeParse(JSON.parse(row.json)).success) valid += 1;
        if (valid !== size) throw new Error('bad full read');
        return performance.now() - start;
      };
      fullRead = await sample(config.runs, 1, () => Promise.resolve(readAll()));
    }
    return { route, walk, fullRead, rssGrowthMiB, polls };
  } finally {
    await scheduler.stop();
    store.close();
  }
}

export async function listPages(config: BenchConfig): Promise<ScenarioOutput> {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-list-'));
  try {
    const sizes = [config.count(10_000, 200), config.count(100_000, 1_000)];
    const metrics: Metric[] = [];
    const notes: string[] = [];
    for (const [index, size] of sizes.entries()) {
      const { route, walk, fullRead, rssGrowthMiB, polls } = await measure(config, dir, size, index === 0);
      const row = (metric: string, samples: number[]): Metric => ({ scenario: 'list', metric, unit: 'ms', samples });
      metrics.push(
        row(
          `GET /v1/sessions page p50, ${size} sessions`,
          route.map((r) => r.p50),
        ),
        row(
          `GET /v1/sessions page p95, ${size} sessions`,
          route.map((r) => r.p95),
        ),
        row(
          `listSummaries cursor page p50, ${size} sessions`,
          walk.map((r) => r.p50),
        ),
        row(
          `listSummaries cursor page p95, ${size} sessions`,
          walk.map((r) => r.p95),
        ),
      );
      metrics.push({
        scenario: 'list',
        metric: `RSS growth over ${polls} more polls of a page, ${size} sessions`,
        unit: 'MiB',
        samples: [rssGrowthMiB],
      });
      if (fullRead.length > 0) {
        metrics.push(row(`old full listing (every session read), ${size} sessions`, fullRead), {
          scenario: 'list',
          metric: `old full listing / page p50, ${size} sessions`,
          unit: 'x',
          samples: fullRead.map((ms, i) => ms / (route[i]?.p50 ?? Number.NaN)),
        });
      }
      notes.push(
        `list ${size}: route p50 ${median(route.map((r) => r.p50)).toFixed(3)} ms, p95 ${median(route.map((r) => r.p95)).toFixed(3)} ms`,
      );
    }
    notes.push(`pages of ${PAGE}; one root per 10 sessions, 4 messages each, 4 sessions per created_at millisecond; SQLite WAL file`);
    return { metrics, notes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
