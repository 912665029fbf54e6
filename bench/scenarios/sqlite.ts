/**
 * sqlite: (1) the lifecycle scenario on `SqliteSessionStore` (a WAL file in a temp dir) —
 * target ≥ 2,000 jobs/s; (2) raw `save` throughput at 10,000 stored sessions against the
 * Bamboo-style file store (folder per session + index file rewritten on every save) — target
 * ≥ 10 × the file store. Skipped with a message when the SQLite store cannot be loaded or opened.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSessionStore } from '../baselines/file-store.js';
import { childId, childSession } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { sproutLifecycle } from './lifecycle.js';
import type { Session } from '../../machines/session.schema.js';
import type { SessionStore } from '../../src/api/ports.js';

type SqliteStore = SessionStore & { close(): void };
type SqliteCtor = new (target: string) => SqliteStore;

/** Loads `SqliteSessionStore`, or says why it cannot be used. */
async function loadSqlite(dir: string): Promise<SqliteCtor | string> {
  try {
    const module = (await import('../../src/adapters/sqlite/sqlite-session-store.js')) as { SqliteSessionStore?: SqliteCtor };
    const Ctor = module.SqliteSessionStore;
    if (typeof Ctor !== 'function') return 'src/adapters/sqlite/sqlite-session-store.ts exports no SqliteSessionStore';
    const probe = new Ctor(join(dir, 'probe.db'));
    await probe.save(childSession('probe'));
    if ((await probe.load('probe'))?.id !== 'probe') return 'SqliteSessionStore did not load what it saved';
    probe.close();
    return Ctor;
  } catch (error) {
    return `SqliteSessionStore unusable: ${error instanceof Error ? error.message : String(error)}`;
  }
}

/** A child session the size of a short finished run (6 messages of ~240 characters). */
function sizedSession(i: number): Session {
  const session = childSession(childId(i));
  for (let m = 0; m < 4; m++) {
    session.messages.push({
      id: `${session.id}-m${m}`,
      role: m % 2 ? 'user' : 'assistant',
      content: 'lorem ipsum '.repeat(20),
      created_at: session.created_at,
    });
  }
  return session;
}

/** Saves/s of `saves` updates spread over `sessions` already stored. */
async function timeSaves(store: SessionStore, sessions: Session[], saves: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < saves; i++) {
    const session = sessions[(i * 7919) % sessions.length]!;
    session.updated_at = new Date().toISOString();
    await store.save(session);
  }
  return saves / ((performance.now() - start) / 1000);
}

export async function sqlite(config: BenchConfig): Promise<ScenarioOutput> {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-sqlite-'));
  try {
    const Sqlite = await loadSqlite(dir);
    if (typeof Sqlite === 'string') {
      const skipped = (metric: string): Metric => ({ scenario: 'sqlite', metric, unit: '', samples: [], skipped: Sqlite });
      return { metrics: [skipped('lifecycle on SqliteSessionStore'), skipped('saves/s vs file store')], notes: [] };
    }
    const jobs = config.count(10_000, 50);
    const stored = config.count(10_000, 100);
    const sqliteSaves = config.count(5_000, 50);
    const fileSaves = config.count(200, 10);
    let dbIndex = 0;
    const freshSqlite = () => new Sqlite(join(dir, `run-${dbIndex++}.db`));

    const lifecycle = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
      const store = freshSqlite();
      try {
        const result = await sproutLifecycle(store, run < 0 ? Math.min(jobs, 1_000) : jobs);
        if (run >= 0)
          config.log(
            `sqlite lifecycle run ${run + 1}: ${result.jobsPerSec.toFixed(0)} jobs/s${result.problems ? ` (${result.problems})` : ''}`,
          );
        return result.jobsPerSec;
      } finally {
        store.close();
      }
    });

    const saves = await sample(config.runs, 0, async (run) => {
      const sqliteStore = freshSqlite();
      const fileStore = new FileSessionStore(join(dir, `files-${run}`));
      try {
        const sqliteSessions = Array.from({ length: stored }, (_, i) => sizedSession(i));
        for (const session of sqliteSessions) await sqliteStore.save(session);
        const fileSessions = Array.from({ length: stored }, (_, i) => sizedSession(i));
        await fileStore.seed(fileSessions);
        const sqlitePerSec = await timeSaves(sqliteStore, sqliteSessions, sqliteSaves);
        const filePerSec = await timeSaves(fileStore, fileSessions, fileSaves);
        config.log(
          `sqlite saves run ${run + 1}: sqlite ${sqlitePerSec.toFixed(0)}/s, file store ${filePerSec.toFixed(0)}/s at ${stored} sessions`,
        );
        return { sqlite: sqlitePerSec, file: filePerSec };
      } finally {
        sqliteStore.close();
      }
    });

    return {
      metrics: [
        {
          scenario: 'sqlite',
          metric: 'lifecycle on SqliteSessionStore',
          unit: 'jobs/s',
          samples: lifecycle,
          target: { op: '>=', value: 2_000 },
        },
        {
          scenario: 'sqlite',
          metric: `SqliteSessionStore saves/s, ${stored} sessions`,
          unit: 'saves/s',
          samples: saves.map((s) => s.sqlite),
        },
        { scenario: 'sqlite', metric: `file store saves/s, ${stored} sessions`, unit: 'saves/s', samples: saves.map((s) => s.file) },
        {
          scenario: 'sqlite',
          metric: 'SQLite / file store saves',
          unit: 'x',
          samples: saves.map((s) => s.sqlite / s.file),
          target: { op: '>=', value: 10 },
        },
      ],
      notes: [
        `lifecycle: ${jobs} jobs per run, concurrency 64, WAL file in ${tmpdir()}`,
        `saves: ${stored} sessions of 6 messages stored first; ${sqliteSaves} SQLite / ${fileSaves} file-store updates per run, sequential`,
      ],
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
