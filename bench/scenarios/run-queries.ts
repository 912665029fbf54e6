/**
 * runs: the latency of one page of `GET /v1/runs?…` over 100,000 indexed runs in a SQLite file
 * (issue 22 item 1; target p95 ≤ 100 ms). The runs are announced and ended through the event log
 * (so the `runs` table is written as in production: 100 parents, 30% still queued or running, the
 * ended ones split between completed, error and cancelled), then pages are asked through the
 * server (in process, no socket) for a mix of filters: none, status, parent + status, reason, q,
 * since, and a cursor walk.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { median, percentile, sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { tokenAgent } from '../lib/fixtures.js';

const STATUSES = ['completed', 'error', 'cancelled'] as const;

/** Announces `count` runs (and ends 70% of them) through the store's event log. */
function seed(store: SqliteSessionStore, count: number): void {
  const log = store.openEventLog({ retention: 10, onError: (error) => console.error(error) });
  for (let i = 0; i < count; i++) {
    const parent = `parent-${i % 100}`;
    const child = `child-${String(i).padStart(7, '0')}`;
    const run = `run-${String(i).padStart(7, '0')}`;
    log.append(parent, {
      type: 'sub_session_started',
      parent_session_id: parent,
      child_session_id: child,
      run_id: run,
      title: `Task ${i}`,
    });
    if (i % 10 < 7) {
      const status = STATUSES[i % 3]!;
      log.append(parent, {
        type: 'sub_session_completed',
        parent_session_id: parent,
        child_session_id: child,
        run_id: run,
        status,
        ...(status === 'cancelled' ? { reason: i % 2 ? 'user' : 'parent' } : {}),
        ...(status === 'error' ? { error: 'boom' } : {}),
      });
    }
  }
  log.flush?.();
}

export async function runQueries(config: BenchConfig): Promise<ScenarioOutput> {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-runs-'));
  const size = config.count(100_000, 2_000);
  const store = new SqliteSessionStore(join(dir, 'runs.db'));
  const scheduler = createSpawnScheduler({ store, agent: tokenAgent(), heartbeatIntervalMs: 60_000 });
  try {
    const seeding = performance.now();
    seed(store, size);
    config.log(`runs: indexed ${size} runs in ${((performance.now() - seeding) / 1000).toFixed(1)} s`);
    await scheduler.start();
    const server = createSproutServer({ scheduler, store });
    const queries = [
      'limit=50',
      'status=error&limit=50',
      'status=queued,running&parent=parent-7&limit=50',
      'reason=user&limit=50',
      'q=task%2012&limit=50',
      'since=2000-01-01T00:00:00Z&status=cancelled&limit=50',
      'parent=parent-42&limit=50',
    ];
    const requests = config.mode === 'smoke' ? 14 : 210;
    const page = async (query: string): Promise<string | null> => {
      const response = await server.fetch(new Request(`http://127.0.0.1/v1/runs?${query}`));
      const body = (await response.json()) as { runs: unknown[]; next_cursor: string | null };
      if (response.status !== 200 || !Array.isArray(body.runs)) throw new Error(`bad page for ${query}`);
      return body.next_cursor;
    };
    const results = await sample(config.runs, 1, async () => {
      const times: number[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < requests; i++) {
        // Every eighth request continues a cursor walk of the unfiltered list.
        const query = i % 8 === 7 ? `limit=50${cursor === null ? '' : `&cursor=${cursor}`}` : queries[i % queries.length]!;
        const start = performance.now();
        const next = await page(query);
        times.push(performance.now() - start);
        if (i % 8 === 7) cursor = next;
      }
      return { p50: percentile(times, 50), p95: percentile(times, 95) };
    });
    const metrics: Metric[] = [
      { scenario: 'runs', metric: `GET /v1/runs?… page p50, ${size} runs`, unit: 'ms', samples: results.map((r) => r.p50) },
      {
        scenario: 'runs',
        metric: `GET /v1/runs?… page p95, ${size} runs`,
        unit: 'ms',
        samples: results.map((r) => r.p95),
        ...(config.mode === 'smoke' ? {} : { target: { op: '<=', value: 100 } }),
      },
    ];
    const notes = [
      `runs ${size}: p50 ${median(results.map((r) => r.p50)).toFixed(3)} ms, p95 ${median(results.map((r) => r.p95)).toFixed(3)} ms`,
      `pages of 50; filters: none, status, parent+status, reason, q (substring), since+status, parent, cursor walk; SQLite WAL file`,
    ];
    return { metrics, notes };
  } finally {
    await scheduler.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
