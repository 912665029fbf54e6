import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, runUntil } from '../../src/testing/simulated-clock.js';
import { checkRecovery, readCommitted, type RecoveredStream } from './crash-recovery-checks.js';

/**
 * Crash property on SQLite (issue 9): a worker process runs a scheduler on a temp file and
 * SIGKILLs itself at the k-th kill point (a store load, before/after a save, an agent emit), k
 * drawn from a seeded generator; this process then opens the file, start()s (recovery) and
 * drains, and checks that every opened run is closed exactly once, committed events replay,
 * seq continues, nothing is left running. SPROUT_CRASH_KILLS / SPROUT_CRASH_SEED for long runs.
 */
const kills = Number(process.env.SPROUT_CRASH_KILLS ?? 12);
const seed = Number(process.env.SPROUT_CRASH_SEED ?? 20_260_902);
const worker = join(import.meta.dirname, 'fixtures', 'crash-property-worker.ts');
const ROOTS = ['root', 'constructor'];

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-crashprop-'));
  dirs.push(dir);
  return join(dir, 'sprout.db');
}

/** Runs the worker to its end or its kill; resolves with its output and how it ended. */
function runWorker(db: string, k: number): Promise<{ out: string; err: string; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, db, String(k)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ out, err, code, signal }));
  });
}

/** Restarts on the file: start() (recovery), drain whatever recovery queued, stop. */
async function restart(db: string, recover: 'interrupt' | 'requeue'): Promise<RecoveredStream[]> {
  const store = new SqliteSessionStore(db);
  try {
    const clock = createTestClock({ now: Date.UTC(2026, 0, 2) });
    const scheduler = createSpawnScheduler({ store, agent: scriptedAgent({ clock }), clock, recover });
    const streams = ROOTS.map((sessionId) => {
      const stream: RecoveredStream = { sessionId, envelopes: [] };
      scheduler.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => stream.envelopes.push(envelope));
      return stream;
    });
    let started = false;
    void scheduler.start().then(() => (started = true));
    await runUntil(() => started, { clock, maxMs: 60_000, stepMs: 1000, description: 'start() resolved' });
    // Requeued runs run to completion.
    const open = (): boolean =>
      streams.some(({ envelopes }) => {
        const runs = new Map<string, number>();
        for (const { event } of envelopes) {
          if (event.type === 'sub_session_started') runs.set(event.run_id, (runs.get(event.run_id) ?? 0) + 1);
          if (event.type === 'sub_session_completed') runs.delete(event.run_id);
        }
        return runs.size > 0;
      });
    await runUntil(() => !open(), {
      clock,
      maxMs: 600_000,
      stepMs: 1000,
      description: 'every run announced after the restart ended',
    }).catch(() => undefined);
    let stopped = false;
    void scheduler.stop({ mode: 'drain' }).then(() => (stopped = true));
    await runUntil(() => stopped, { clock, maxMs: 600_000, stepMs: 1000, description: 'stop() resolved' });
    const leftOpen = await store.listByRunStatus(['running', 'pending']);
    for (const stream of streams) stream.leftOpen = leftOpen.map((s) => s.id);
    const sessions = new Map<string, Record<string, string>>();
    for (const root of ROOTS) for (const child of await store.listChildren(root)) sessions.set(child.id, child.metadata);
    for (const stream of streams) stream.metadataAfter = sessions;
    return streams;
  } finally {
    store.close();
  }
}

describe('crash property: SIGKILL at random points, then restart on the same SQLite file', () => {
  it(`closes every opened run exactly once (${kills} kills, seed ${seed})`, async () => {
    const dry = await runWorker(tempDb(), 0);
    expect(dry.out, dry.err).toContain('DONE');
    // Without a kill every run ends and stop() resolves (the worker says STUCK otherwise).
    expect(dry.out.split('\n').filter((line) => line.startsWith('STUCK'))).toEqual([]);
    const points = Number(/POINTS (\d+)/.exec(dry.out)?.[1]);
    expect(points).toBeGreaterThan(20);

    // One kill in each phase first (a random point of it), then random points anywhere.
    const described = [...dry.out.matchAll(/^POINT (\d+) (.*)$/gm)].map((m) => ({ k: Number(m[1]), what: m[2] ?? '' }));
    const phases: RegExp[] = [
      /^after save \S+ pending /, // inside spawnChild: saved, not yet enqueued
      /^before load (?!root|constructor)/, // a job loading its child (others are queued)
      /^(after save \S+ running |emit )/, // running
      /^before save \S+ (completed|error|cancelled|skipped) /, // finalizing
      /^after save \S+ (completed|error|cancelled|skipped) /, // final save done, completion not yet published
    ];
    const pick = (n: number, i: number): number => fc.sample(fc.integer({ min: 0, max: n - 1 }), { numRuns: 1, seed: seed + i })[0] ?? 0;
    const ks: number[] = [];
    phases.forEach((phase, i) => {
      const matching = described.filter((p) => phase.test(p.what));
      expect(matching.length, `no kill point matches ${phase}`).toBeGreaterThan(0);
      ks.push(matching[pick(matching.length, i)]!.k);
    });
    ks.push(...fc.sample(fc.integer({ min: 1, max: points }), { numRuns: Math.max(0, kills - ks.length), seed }));
    const failures: string[] = [];
    for (const [i, k] of ks.entries()) {
      const recover = i % 4 === 3 ? 'requeue' : 'interrupt';
      const db = tempDb();
      const run = await runWorker(db, k);
      const where = /KILL (.*)/.exec(run.out)?.[1] ?? '(no kill point reached)';
      if (run.signal !== 'SIGKILL') {
        failures.push(`k=${k}: worker was not killed (${run.code}, ${run.signal}): ${run.err.slice(0, 500)}`);
        continue;
      }
      const committed = readCommitted(db, ROOTS);
      const recovered = await restart(db, recover);
      const check = new Database(db, { readonly: true });
      const integrity = check.pragma('integrity_check', { simple: true });
      check.close();
      const violations = checkRecovery(committed, recovered, recover);
      if (integrity !== 'ok') violations.push(`integrity_check: ${String(integrity)}`);
      for (const violation of violations) failures.push(`k=${k} (${where}, recover ${recover}): ${violation}`);
    }
    expect(failures).toEqual([]);
  }, 600_000);
});
