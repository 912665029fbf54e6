// Recovery after a failed final save whose completion retention already pruned from the parent's
// stream (a small `eventRetention`, later traffic on the parent): the store's run index, written
// with the completion in the same transaction, says how the run ended. So `recover: 'requeue'`
// does not run the child again, and the stored status agrees with the completion the parent got.
// A real SQLite file; before, the child ran a second time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { rootSession } from '../support/harness.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** A SQLite store whose saves of one child's end fail (its `running` / `pending` marks land). */
class FailingEndSaves extends SqliteSessionStore {
  failEndsOf: string | undefined;
  override async save(session: Session): Promise<void> {
    const status = session.metadata.last_run_status;
    if (session.id === this.failEndsOf && status !== 'running' && status !== 'pending') throw new Error('disk full (injected)');
    return super.save(session);
  }
}

type Completed = Extract<AgentEvent, { type: 'sub_session_completed' }>;

describe('recovery after a failed final save, its completion pruned from the stream', () => {
  it.each(['requeue', 'interrupt'] as const)('%s: the run index decides; the child is not run again', async (recover) => {
    const dir = mkdtempSync(join(tmpdir(), 'sprout-pruned-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, 'sprout.db');
    const runs = new Map<string, number>();
    const inner = scriptedAgent({ script: [{ tokens: 'a' }], answer: 'the answer' });
    const agent: AgentRuntime = {
      execute: (session, request) => {
        runs.set(session.id, (runs.get(session.id) ?? 0) + 1);
        return inner.execute(session, request);
      },
    };

    const store = new FailingEndSaves({ path });
    await store.save(rootSession('P'));
    const first = createSpawnScheduler({ store, agent, eventRetention: 5 });
    await first.start();
    const completions: Completed[] = [];
    first.events('P').subscribe(({ event }) => {
      if (event.type === 'sub_session_completed') completions.push(event);
    });
    const kid = await first.spawnChild('P', { title: 'kid', prompt: 'x' });
    store.failEndsOf = kid.childSessionId;
    await first.waitForChildren('P');
    // Later traffic on P pushes the kid's completion out of the retained stream.
    for (let i = 0; i < 3; i++) await first.spawnChild('P', { title: `other ${i}`, prompt: 'x' });
    await first.waitForChildren('P');
    await first.stop();
    store.close();
    const published = completions.find((c) => c.child_session_id === kid.childSessionId);
    expect(published).toMatchObject({ run_id: kid.runId, status: 'error', error: expect.stringContaining('disk full') as string });

    const reopened = new SqliteSessionStore({ path });
    cleanups.push(() => reopened.close());
    expect((await reopened.load(kid.childSessionId))?.metadata.last_run_status).toBe('running');
    const retained = new SqliteEventLog(reopened, { retention: 5 }).read('P', 0);
    expect(
      retained.envelopes.some(({ event }) => event.type === 'sub_session_completed' && event.child_session_id === kid.childSessionId),
    ).toBe(false);

    const second = createSpawnScheduler({ store: reopened, agent, eventRetention: 5, recover });
    const report = await second.start();
    await second.stop();
    expect(report).toMatchObject({ completed: [kid.childSessionId], requeued: [], interrupted: [] });
    expect(runs.get(kid.childSessionId)).toBe(1);
    expect((await reopened.load(kid.childSessionId))?.metadata).toMatchObject({
      last_run_id: kid.runId,
      last_run_status: 'error',
      last_run_error: published?.error,
    });
  });
});
