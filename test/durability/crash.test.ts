import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, flushMicrotasks } from '../../src/testing/simulated-clock.js';

const worker = join(import.meta.dirname, 'fixtures', 'crash-worker.ts');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

interface Spawned {
  childSessionId: string;
  runId: string;
}

/** Runs the worker until it prints READY, then kills it with SIGKILL. */
function runAndKill(db: string): Promise<{ quick: Spawned[]; slow: Spawned[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.startsWith('READY '));
      if (line) {
        child.kill('SIGKILL');
        child.once('exit', (_code, signal) => {
          if (signal !== 'SIGKILL') reject(new Error(`worker exited with ${signal}`));
          else resolve(JSON.parse(line.slice('READY '.length)) as { quick: Spawned[]; slow: Spawned[] });
        });
      }
    });
    child.once('exit', (code) => {
      if (!out.includes('READY ')) reject(new Error(`worker exited early (${code}): ${err}`));
    });
  });
}

describe('crash: kill -9 mid-run, then restart on the same SQLite file', () => {
  it('ends every interrupted run, replays completions on the parent, loses no committed message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-crash-'));
    dirs.push(dir);
    const db = join(dir, 'sprout.db');
    const { quick, slow } = await runAndKill(db);
    expect(quick).toHaveLength(2);
    expect(slow).toHaveLength(6);

    const store = new SqliteSessionStore(db);
    const clock = createTestClock();
    const scheduler = createSpawnScheduler({ store, agent: scriptedAgent({ clock }), clock });
    const replayed: SessionEventEnvelope[] = [];
    scheduler.events('root', { afterSeq: 0 }).subscribe((e) => replayed.push(e));
    const report = await scheduler.start();
    await flushMicrotasks();

    // 4 were running, 2 were still queued (`pending`): all six are interrupted.
    expect(report.interrupted.sort()).toEqual(slow.map((s) => s.childSessionId).sort());
    expect(await store.listByRunStatus(['running', 'pending'])).toEqual([]);
    for (const { childSessionId } of slow) {
      const child = await store.load(childSessionId);
      expect(child?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: INTERRUPTED_ERROR });
      // The child's own messages (committed before the crash) are all there.
      expect(child?.messages.map((m) => m.role)).toEqual(['system', 'user']);
    }
    for (const { childSessionId } of quick) {
      const child = await store.load(childSessionId);
      expect(child?.metadata.last_run_status).toBe('completed');
      expect(child?.messages.at(-1)).toMatchObject({ role: 'assistant', content: expect.stringMatching(/^answer of quick-/) as string });
    }
    expect((await store.load('root'))?.messages.map((m) => m.id)).toEqual(['root-u1']);

    // The parent's stream replays across the restart: seq is continuous and every run completed once.
    expect(replayed.map((e) => e.seq)).toEqual(replayed.map((_, i) => i + 1));
    const completions = replayed.flatMap((e) => (e.event.type === 'sub_session_completed' ? [e.event] : []));
    for (const { childSessionId } of quick) {
      expect(completions.filter((c) => c.child_session_id === childSessionId)).toEqual([expect.objectContaining({ status: 'completed' })]);
    }
    for (const { childSessionId, runId } of slow) {
      expect(completions.filter((c) => c.child_session_id === childSessionId)).toEqual([
        expect.objectContaining({ status: 'error', reason: 'interrupted', run_id: runId, error: INTERRUPTED_ERROR }),
      ]);
    }
    const started = replayed.filter((e) => e.event.type === 'sub_session_started');
    expect(started).toHaveLength(8);

    // A new run after the restart continues the parent's seq.
    const lastSeq = replayed.at(-1)?.seq ?? 0;
    await scheduler.spawnChild('root', { title: 'after restart', prompt: 'x' });
    await flushMicrotasks();
    expect(replayed.at(-1)?.seq).toBeGreaterThan(lastSeq);
    await scheduler.stop({ mode: 'cancel' });
    store.close();

    const check = new Database(db, { readonly: true });
    expect(check.pragma('integrity_check', { simple: true })).toBe('ok');
    check.close();
  });
});
