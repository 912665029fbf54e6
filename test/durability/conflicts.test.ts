import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { SessionConflictError } from '../../src/errors.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { advance, createTestClock, flushMicrotasks } from '../../src/testing/simulated-clock.js';
import { rootSession } from '../support/harness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sprout-conflict-'));
  dirs.push(dir);
  return join(dir, 'sprout.db');
}

const stores: [string, () => SessionStore][] = [
  ['memory', () => new MemorySessionStore()],
  ['sqlite', () => new SqliteSessionStore(tempDb())],
];

describe.each(stores)('optimistic concurrency in the scheduler (%s store)', (_name, makeStore) => {
  it('a save made while the child runs is merged: no message written by anyone is lost', async () => {
    const store = makeStore();
    await store.save(rootSession());
    const clock = createTestClock();
    const agent = scriptedAgent({
      clock,
      script: [{ message: { role: 'assistant', content: 'step 1' } }, { wait: 5000 }],
      answer: 'final answer',
    });
    const scheduler = createSpawnScheduler({ store, agent, clock });
    await scheduler.start();
    const { childSessionId } = await scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await flushMicrotasks();

    // Someone else (a UI, another process) writes to the child while it runs.
    const theirs = (await store.load(childSessionId))!;
    theirs.messages.push({ id: 'ui-note', role: 'user', content: 'note from the UI', created_at: 'x' });
    theirs.metadata.pinned = 'yes';
    await store.save(theirs);

    await advance(clock, 5000);
    const stored = (await store.load(childSessionId))!;
    expect(stored.messages.map((m) => m.content)).toEqual([expect.any(String), 'a', 'note from the UI', 'step 1', 'final answer']);
    expect(stored.metadata).toMatchObject({ last_run_status: 'completed', pinned: 'yes' });
    expect((await scheduler.getChild(childSessionId))?.status).toBe('completed');
    await scheduler.stop();
  });

  it('a stale copy cannot overwrite a newer save (typed conflict error)', async () => {
    const store = makeStore();
    await store.save(rootSession());
    const a = (await store.load('root'))!;
    const b = (await store.load('root'))!;
    a.title = 'first';
    await store.save(a);
    b.title = 'stale';
    await expect(store.save(b)).rejects.toBeInstanceOf(SessionConflictError);
    expect((await store.load('root'))?.title).toBe('first');
  });
});

describe('replay across a restart (SQLite event log)', () => {
  it('seq continues, afterSeq works, truncation is reported', async () => {
    const db = tempDb();
    const clock = createTestClock();
    const first = new SqliteSessionStore(db);
    await first.save(rootSession());
    const s1 = createSpawnScheduler({
      store: first,
      agent: scriptedAgent({ clock, script: [{ tokens: 'one two three four five' }] }),
      clock,
      eventRetention: 8,
    });
    await s1.start();
    await s1.spawnChild('root', { title: 'A', prompt: 'a' });
    await advance(clock, 10);
    await s1.stop();
    first.close();

    const second = new SqliteSessionStore(db);
    const s2 = createSpawnScheduler({
      store: second,
      agent: scriptedAgent({ clock, script: [{ tokens: 'x' }] }),
      clock,
      eventRetention: 8,
    });
    await s2.start();
    const fromStart: SessionEventEnvelope[] = [];
    s2.events('root', { afterSeq: 0 }).subscribe((e) => fromStart.push(e));
    // 1 started + 1 heartbeat + 5 tokens + complete + completion = 9 events, 8 retained.
    expect(fromStart[0]?.event).toEqual({ type: 'stream_truncated', first_retained_seq: 2 });
    expect(fromStart.slice(1).map((e) => e.seq)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(fromStart.at(-1)?.event.type).toBe('sub_session_completed');

    const afterSix: SessionEventEnvelope[] = [];
    s2.events('root', { afterSeq: 6 }).subscribe((e) => afterSix.push(e));
    expect(afterSix.map((e) => e.seq)).toEqual([7, 8, 9]);

    await s2.spawnChild('root', { title: 'B', prompt: 'b' });
    await advance(clock, 10);
    expect(afterSix.map((e) => e.seq).slice(0, 4)).toEqual([7, 8, 9, 10]);
    expect(afterSix.at(-1)?.event.type).toBe('sub_session_completed');
    await s2.stop();
    second.close();
  });
});
