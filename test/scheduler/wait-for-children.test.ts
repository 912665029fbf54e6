import { describe, expect, it } from 'vitest';
import { SproutValidationError } from '../../src/errors.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

const job = (child: string) => ({ parentSessionId: 'root', childSessionId: child, model: 'm' });

describe('waitForChildren', () => {
  // Bug pin: a child whose enqueue was still waiting for queue room at the time of the call
  // (no run in the registry yet) was read from the store as `queued` forever.
  it('waits for a listed child whose run shows up only after the call', async () => {
    const h = await createHarness({
      agent: { script: [{ wait: 1000 }], answer: 'ok' },
      scheduler: { concurrency: 1, queueCapacity: 1 },
      seed: [rootSession(), childSession('c1'), childSession('c2'), childSession('c3')],
    });
    await h.scheduler.enqueue(job('c1'));
    await h.scheduler.enqueue(job('c2'));
    const third = h.scheduler.enqueue(job('c3')); // waits for room
    const waiting = h.scheduler.waitForChildren('root', { childSessionIds: ['c1', 'c2', 'c3'] });
    await h.advance(5000);
    await third;
    const results = await waiting;
    expect(results.map((r) => [r.childSessionId, r.status, r.result])).toEqual([
      ['c1', 'completed', 'ok'],
      ['c2', 'completed', 'ok'],
      ['c3', 'completed', 'ok'],
    ]);
  });

  it('returns exactly { childSessionId, runId, status, error?, result? } per child', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] }, seed: [rootSession(), childSession('c1')] });
    const { runId } = await h.scheduler.enqueue(job('c1'));
    await h.settle();
    const waiting = h.scheduler.waitForChildren('root');
    await h.scheduler.cancel('c1');
    expect(await waiting).toEqual([{ childSessionId: 'c1', runId, status: 'cancelled' }]);
    expect((await h.scheduler.getChild('c1'))?.reason).toBe('user');
  });

  it('rejects bad arguments with SproutValidationError (and cancel a reason outside the wire enum)', async () => {
    const h = await createHarness();
    await expect(h.scheduler.waitForChildren('root', { policy: 'bogus' as never })).rejects.toBeInstanceOf(SproutValidationError);
    await expect(h.scheduler.waitForChildren('', {})).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(h.scheduler.cancel(undefined as never)).rejects.toBeInstanceOf(SproutValidationError);
    await expect(h.scheduler.cancel('c1', 'because' as never)).rejects.toBeInstanceOf(SproutValidationError);
  });
});
