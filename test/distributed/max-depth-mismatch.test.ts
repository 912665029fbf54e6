// `maxDepth` is each process's own option. A run carries the value of the process that queued it,
// and a worker configured with another value reports a `config_mismatch` diagnostic once per value
// (before, nothing checked it). Real Redis and PostgreSQL, one front door and one worker in process.
import { describe, expect, it } from 'vitest';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { POSTGRES_URL, REDIS_URL, finishedJob, servicesUnavailable } from './support.js';
import { trackOpened } from './opened.js';
import { openFrontDoorWithQueue } from './front-door-with-queue.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a worker whose maxDepth differs from the queuing process', () => {
  it('reports config_mismatch once per value, and runs the runs', async () => {
    const { prefix, front, queue, close } = await openFrontDoorWithQueue(opened, { maxDepth: 2 });
    const diagnostics: DistributedDiagnostic[] = [];
    const probe = createProbe();
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix,
      agent: probe.agent('w'),
      name: 'w',
      maxDepth: 4,
      onDiagnostic: (diagnostic) => diagnostics.push(diagnostic),
    });
    opened.workers.push(worker);
    await worker.start();
    try {
      await front.store.save(rootSession('p'));
      const first = await front.spawnChild('p', { title: 'one', prompt: 'answer' });
      const second = await front.spawnChild('p', { title: 'two', prompt: 'answer' });
      expect(await finishedJob(queue, first.runId)).toBe('completed');
      expect(await finishedJob(queue, second.runId)).toBe('completed');
      const mismatches = diagnostics.filter((d) => d.kind === 'config_mismatch');
      expect(mismatches).toEqual([
        { kind: 'config_mismatch', option: 'maxDepth', here: 4, queued: 2, runId: expect.any(String) as unknown },
      ]);
      expect([first.runId, second.runId]).toContain((mismatches[0] as { runId: string }).runId);
    } finally {
      await close();
    }
  });
});
