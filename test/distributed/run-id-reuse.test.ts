// A caller's `enqueue(job, { runId })` that reuses a run id: refused with a typed error by the
// front door's admission script, and the child stays free to run under another id. Before, BullMQ
// dropped the second job as a duplicate and the child stayed busy for ever. Real Redis and
// PostgreSQL; waits on conditions.
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { SproutValidationError } from '../../src/errors.js';
import { childSession, rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { trackOpened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, completionsOf, createTestDeployment, servicesUnavailable, until } from './support.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('run ids are unique across the deployment', () => {
  it('refuses a run id already used by another child, keeps nothing, and the child runs under a new one', async () => {
    const deployment = createTestDeployment();
    opened.deployments.push(deployment);
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix: deployment.prefix });
    opened.fronts.push(front);
    await front.start();
    for (const session of [rootSession('root'), childSession('c1', 'root'), childSession('c2', 'root')]) await front.store.save(session);
    const seen: SessionEventEnvelope[] = [];
    front.events('root', { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix: deployment.prefix,
      agent: createProbe().agent('w1'),
      name: 'w1',
    });
    opened.workers.push(worker);
    await worker.start();

    await front.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' }, { runId: 'shared-id' });
    await until(() => completionsOf(seen).length === 1);
    // The same id again, for c1 once its run ended, or for another child: refused.
    for (const childSessionId of ['c1', 'c2']) {
      const refused = await front
        .enqueue({ parentSessionId: 'root', childSessionId, model: 'm' }, { runId: 'shared-id' })
        .catch((e: unknown) => e);
      expect(refused, childSessionId).toBeInstanceOf(SproutValidationError);
      expect((refused as SproutValidationError).message).toMatch(/run id shared-id was already used/);
    }
    // c2 is not left busy: it runs under a new id.
    expect((await front.getChild('c2'))?.runId).toBe('');
    const { runId } = await front.enqueue({ parentSessionId: 'root', childSessionId: 'c2', model: 'm' });
    expect(runId).not.toBe('shared-id');
    await until(() => completionsOf(seen).length === 2);
    expect(completionsOf(seen).map((c) => [c.child_session_id, c.run_id, c.status])).toEqual([
      ['c1', 'shared-id', 'completed'],
      ['c2', runId, 'completed'],
    ]);
  });
});
