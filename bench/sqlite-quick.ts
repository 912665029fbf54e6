/**
 * Quick throughput check of the SQLite adapters against their in-memory baselines, in one
 * process. Run: `npx tsx bench/sqlite-quick.ts`. Prints ops/s and the ratio to the baseline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEvent } from '../machines/agent-event.events.js';
import type { Session } from '../machines/session.schema.js';
import type { SessionStore } from '../src/api/ports.js';
import { MemorySessionStore } from '../src/adapters/memory/memory-session-store.js';
import { SqliteSessionStore } from '../src/adapters/sqlite/sqlite-session-store.js';
import type { EventLog } from '../src/streams/event-log.js';
import { MemoryEventLog } from '../src/adapters/memory/memory-event-log.js';
import { SqliteEventLog } from '../src/adapters/sqlite/sqlite-event-log.js';

const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-'));
const session = (id: string): Session => ({
  id,
  title: `child ${id}`,
  kind: 'child',
  parent_session_id: 'root',
  root_session_id: 'root',
  spawn_depth: 1,
  model: 'm',
  messages: Array.from({ length: 6 }, (_, i) => ({
    id: `${id}-${i}`,
    role: i % 2 ? 'assistant' : 'user',
    content: 'lorem ipsum '.repeat(20),
    created_at: '2026-01-01T00:00:00.000Z',
  })),
  metadata: { last_run_status: 'running', last_run_id: 'run-1' },
  created_at: '2026-01-01T00:00:00.000Z',
  updated_at: '2026-01-01T00:00:00.000Z',
});

async function timeIt(n: number, body: (i: number) => Promise<void> | void): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) await body(i);
  return n / ((performance.now() - start) / 1000);
}

async function saves(store: SessionStore, n: number): Promise<{ insert: number; update: number }> {
  const insert = await timeIt(n, (i) => store.save(session(`s${i}`)));
  const hot = session('hot');
  await store.save(hot);
  const update = await timeIt(n, () => store.save(hot));
  return { insert, update };
}

const token: AgentEvent = { type: 'token', content: 'tok' };
/** Appends `n` tokens over 8 sessions, letting microtasks run (a flush) every `yieldEvery`. */
async function appends(log: EventLog, n: number, yieldEvery: number): Promise<number> {
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    log.append(`session-${i % 8}`, token);
    if (i % yieldEvery === yieldEvery - 1) await Promise.resolve();
  }
  log.close?.();
  return n / ((performance.now() - start) / 1000);
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US').padStart(12);
const row = (name: string, value: number, baseline: number) =>
  console.log(`${name.padEnd(44)}${fmt(value)} /s   ${(value / baseline).toFixed(3)}x baseline`);

try {
  const N = 20_000;
  const memory = await saves(new MemorySessionStore(), N);
  const store = new SqliteSessionStore({ path: join(dir, 'sessions.db') });
  const sqlite = await saves(store, N);
  row('MemorySessionStore save (insert)', memory.insert, memory.insert);
  row('SqliteSessionStore save (insert)', sqlite.insert, memory.insert);
  row('MemorySessionStore save (update)', memory.update, memory.update);
  row('SqliteSessionStore save (update)', sqlite.update, memory.update);
  store.close();

  const E = 300_000;
  for (const yieldEvery of [1_000_000, 64, 1]) {
    const label = yieldEvery > E ? 'no yield' : `yield every ${yieldEvery}`;
    const n = yieldEvery === 1 ? 30_000 : E;
    const baseline = await appends(new MemoryEventLog(), n, yieldEvery);
    row(`MemoryEventLog append (${label})`, baseline, baseline);
    for (const batch of [true, false]) {
      if (!batch && yieldEvery !== 1) continue; // plain inserts do not depend on yielding
      const s = new SqliteSessionStore({ path: join(dir, `events-${yieldEvery}-${batch}.db`) });
      const value = await appends(new SqliteEventLog(s), n, yieldEvery);
      row(`SqliteEventLog append batch=${batch} (${label})`, value, baseline);
      s.close();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
