import { describe, expect, it } from 'vitest';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';

/** More runs in flight than one lane (64): jobs past it live in lane actors and still write the scheduler's run ledger. */
describe('run ledger with jobs in lane actors', () => {
  it('getChild, cancel, dedupe and waitForChildren see the runs of jobs living in lanes', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => `c${i}`);
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }], answer: 'A' },
      scheduler: { concurrency: 100, perParentConcurrency: 100, queueCapacity: 100 },
      seed: [rootSession(), ...ids.map((id) => childSession(id))],
    });
    const runs = new Map<string, string>();
    for (const id of ids) runs.set(id, (await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: id, model: 'm' })).runId);
    await h.until(() => h.agent.active === 100, 'all 100 running');
    const late = 'c90';
    expect(await h.scheduler.getChild(late)).toMatchObject({ runId: runs.get(late), status: 'running' });
    // Dedupe reads the same ledger: a second enqueue of a child running in a lane gets its run.
    expect(await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: late, model: 'm' })).toEqual({
      runId: runs.get(late),
      deduplicated: true,
    });
    expect(await h.scheduler.cancel(late)).toBe(true);
    await h.until(() => h.completions().some((c) => c.child_session_id === late));
    const waiting = h.scheduler.waitForChildren('root');
    await h.advance(1000);
    const summaries = await waiting;
    expect(summaries).toHaveLength(99);
    expect(summaries.every((s) => s.status === 'completed')).toBe(true);
    await h.until(() => h.completions().length === 100);
    expect(h.completions().find((c) => c.child_session_id === late)).toMatchObject({ status: 'cancelled', reason: 'user' });
    for (const id of ids) expect(typesFor(h.rootEvents, id).filter((t) => t === 'sub_session_completed')).toHaveLength(1);
    expect(await h.scheduler.getChild(late)).toMatchObject({ status: 'cancelled' });
    await h.scheduler.stop();
  });
});
