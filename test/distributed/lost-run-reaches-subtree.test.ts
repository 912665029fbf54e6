// A run whose worker was killed ends `error` (reason `interrupted`) when another worker takes it
// over — and that end reaches its subtree, as any end `error` does: the lost run's queued and
// running children end `cancelled` (reason `parent`). Before, only the lost run was closed and its
// children ran on. Real Redis, PostgreSQL and a killed `sprout worker` process.
import { describe, expect, it } from 'vitest';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { childSession, rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { completionsOf, finishedJob, servicesUnavailable, storedEvents, until } from './support.js';
import { trackOpened } from './opened.js';
import { openFrontDoorWithQueue } from './front-door-with-queue.js';
import { loseRunOfKilledWorker, startRescuer } from './lost-run-rescue.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a lost run’s end', () => {
  it('reaches its subtree: a child queued under it ends cancelled (reason parent) once the run is closed', async () => {
    const { prefix, front, redis, queue, close } = await openFrontDoorWithQueue(opened);
    try {
      await front.store.save(rootSession('r'));
      await front.store.save(childSession('p', 'r', { title: 'hang parent' }));
      await front.store.save(childSession('k', 'p', { title: 'hang kid', spawn_depth: 2, root_session_id: 'r' }));
      const lost = await loseRunOfKilledWorker(opened, prefix, redis, () =>
        front.enqueue({ parentSessionId: 'r', childSessionId: 'p', model: 'm' }),
      );
      // Queued under the lost run while no worker is up; its agent would hang until aborted.
      const kid = await front.enqueue({ parentSessionId: 'p', childSessionId: 'k', model: 'm' });

      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      await startRescuer(opened, prefix, probe, diagnostics);

      expect(await finishedJob(queue, lost)).toBe('recovered');
      expect(completionsOf(await storedEvents(prefix, 'r'))).toEqual([
        expect.objectContaining({ child_session_id: 'p', run_id: lost, status: 'error', reason: 'interrupted', error: WORKER_LOST_ERROR }),
      ]);
      await until(async () => completionsOf(await storedEvents(prefix, 'p')).length > 0, 50);
      expect(completionsOf(await storedEvents(prefix, 'p'))).toEqual([
        expect.objectContaining({ child_session_id: 'k', run_id: kid.runId, status: 'cancelled', reason: 'parent' }),
      ]);
      expect((await front.store.load('k'))?.metadata.last_run_status).toBe('cancelled');
    } finally {
      await close();
    }
  });
});
