import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, runUntil } from '../../src/testing/simulated-clock.js';
import { rootSession } from '../support/harness.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('deleteSession deletes (issue 21, item 3)', () => {
  it("a deleted session's stream goes from the log, its live subscribers complete, and its runs end first", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-delete-'));
    dirs.push(dir);
    const store = new SqliteSessionStore(join(dir, 'sprout.db'));
    await store.save(rootSession());
    const clock = createTestClock();
    const agent = scriptedAgent({ clock, script: [{ tokens: 'working on it' }, { hang: true }] });
    const scheduler = createSpawnScheduler({ store, agent, clock });
    await scheduler.start();
    const child = await scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    const seen: SessionEventEnvelope[] = [];
    let completed = false;
    scheduler.events(child.childSessionId, { afterSeq: 0 }).subscribe({ next: (e) => seen.push(e), complete: () => (completed = true) });
    await runUntil(() => seen.some((e) => e.event.type === 'token'), { clock, maxMs: 60_000 });

    expect(await scheduler.deleteSession(child.childSessionId)).toBe(true);
    expect(completed).toBe(true);
    expect(await store.load(child.childSessionId)).toBeUndefined();
    // Its run ended (cancelled, reason deleted) before the stream went; the parent heard it.
    const root: SessionEventEnvelope[] = [];
    scheduler.events('root', { afterSeq: 0 }).subscribe((e) => root.push(e));
    expect(root.at(-1)?.event).toMatchObject({ type: 'sub_session_completed', status: 'cancelled', reason: 'deleted' });
    await scheduler.stop();
    const log = new SqliteEventLog(store);
    expect(log.read(child.childSessionId, 0).envelopes).toEqual([]);
    expect(log.openRuns()).toEqual([]);
    store.close();
  });
});
