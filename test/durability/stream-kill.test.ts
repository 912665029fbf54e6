import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, flushMicrotasks } from '../../src/testing/simulated-clock.js';

const worker = join(import.meta.dirname, 'fixtures', 'stream-kill-worker.ts');
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Runs the worker, reads the root's stream as a client does, and kills it with SIGKILL after `after` envelopes. */
function streamThenKill(db: string, after: number): Promise<SessionEventEnvelope[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let err = '';
    const seen: SessionEventEnvelope[] = [];
    let killed = false;
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith('EV ') && !killed) seen.push(JSON.parse(line.slice(3)) as SessionEventEnvelope);
        newline = buffer.indexOf('\n');
      }
      if (!killed && seen.length >= after) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`worker exited (${code}) before the kill: ${err}`));
    });
  });
}

describe('kill -9 while a client streams: every id the client saw names the same event after the restart', () => {
  it.each([40, 120, 333, 700, 1500])('killed after %i envelopes', async (after) => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-stream-kill-'));
    dirs.push(dir);
    const db = join(dir, 'sprout.db');
    const seen = await streamThenKill(db, after);
    expect(seen.length).toBeGreaterThanOrEqual(after);
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => i + 1));

    // Restart on the same file: recovery ends the interrupted runs and publishes on the same streams.
    const store = new SqliteSessionStore(db);
    const clock = createTestClock();
    const scheduler = createSpawnScheduler({ store, agent: scriptedAgent({ clock }), clock });
    await scheduler.start();
    await flushMicrotasks();
    await scheduler.stop();
    const log = new SqliteEventLog(store, { retention: 1_000_000 });
    const { envelopes, firstRetainedSeq } = log.read('root', 0);
    const stored = new Map(envelopes.map((e) => [e.seq, e.event]));
    // Older events may have been pruned by retention (1000 per stream): compare what is retained.
    const retained = seen.filter((e) => e.seq >= (firstRetainedSeq ?? Infinity));
    expect(retained.length).toBeGreaterThan(0);
    for (const envelope of retained) expect(stored.get(envelope.seq), `seq ${envelope.seq}`).toEqual(envelope.event);
    // Recovery closed what was open, after what the client had seen: the children's runs
    // (completions on the root's stream) and the root's own run (one terminal error, and the
    // stored status agrees).
    const after_ = log.read('root', seen.length).envelopes.map((e) => e.event);
    expect(after_.some((e) => e.type === 'sub_session_completed')).toBe(true);
    expect(after_.filter((e) => e.type === 'error' || e.type === 'complete')).toEqual([{ type: 'error', message: INTERRUPTED_ERROR }]);
    expect((await store.load('root'))?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: INTERRUPTED_ERROR });
    store.close();
  });
});
