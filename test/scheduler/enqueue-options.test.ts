// `enqueue(job, { runId, title })`: a deployment that hands out run ids itself (a distributed
// worker running a queued run) queues runs through the same public call as anyone; a job whose
// parent is '' re-runs a root as it is. Simulated clock.
import { describe, expect, it } from 'vitest';
import { SproutValidationError } from '../../src/errors.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

describe('enqueue options', () => {
  it('gives the run the id and title it was handed', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    const result = await h.scheduler.enqueue(
      { parentSessionId: 'root', childSessionId: 'c1', model: 'm' },
      { runId: 'run-42', title: 'Given' },
    );
    expect(result).toEqual({ runId: 'run-42' });
    await h.until(() => h.completions().length === 1);
    const started = h.rootEvents.find((e) => e.event.type === 'sub_session_started')?.event;
    expect(started).toMatchObject({ run_id: 'run-42', title: 'Given' });
    expect(h.completions()[0]).toMatchObject({ run_id: 'run-42', status: 'completed' });
  });

  it("runs a root as it is with root: true (parent '')", async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'again' }], answer: 'again' } });
    const { runId } = await h.scheduler.enqueue(
      { parentSessionId: '', childSessionId: 'root', model: 'm' },
      { runId: 'root-run', root: true },
    );
    expect(runId).toBe('root-run');
    await h.until(() => h.rootEvents.some((e) => e.event.type === 'complete'));
    expect(h.rootEvents.some((e) => e.event.type.startsWith('sub_session'))).toBe(false);
    expect((await h.store.load('root'))?.metadata).toMatchObject({ last_run_status: 'completed', last_run_id: 'root-run' });
  });

  it('refuses bad options with a typed error', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    const job = { parentSessionId: 'root', childSessionId: 'c1', model: 'm' };
    await expect(h.scheduler.enqueue(job, { runId: '' })).rejects.toBeInstanceOf(SproutValidationError);
    await expect(h.scheduler.enqueue(job, { extra: 1 } as never)).rejects.toBeInstanceOf(SproutValidationError);
    // A root run of a session that is not a root, or with a parent: refused.
    const asRoot = { parentSessionId: '', childSessionId: 'c1', model: 'm' };
    await expect(h.scheduler.enqueue(asRoot, { root: true })).rejects.toBeInstanceOf(SproutValidationError);
    await expect(h.scheduler.enqueue(job, { root: true })).rejects.toBeInstanceOf(SproutValidationError);
    // Without root: true an empty parent stays invalid.
    await expect(h.scheduler.enqueue(asRoot)).rejects.toBeInstanceOf(SproutValidationError);
  });
});
