// What a distributed test opened, closed after each test in a fixed order (worker processes
// killed, in-process workers stopped, front doors stopped, then each deployment's schema and Redis
// keys removed), so no test leaves anything behind and every file does it the same way.
import { afterEach } from 'vitest';
import type { DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import type { DistributedWorker } from '../../src/distributed/worker.js';
import type { CliProcess } from '../cli/cli-process.js';
import type { TestDeployment } from './support.js';

/** The resources of one test file's current test. */
export interface Opened {
  deployments: TestDeployment[];
  fronts: DistributedScheduler[];
  workers: DistributedWorker[];
  processes: CliProcess[];
}

/** Registers the cleanup (an `afterEach` of the calling file) and returns the lists to push to. */
export function trackOpened(): Opened {
  const opened: Opened = { deployments: [], fronts: [], workers: [], processes: [] };
  afterEach(async () => {
    for (const process of opened.processes.splice(0)) {
      if (process.child.exitCode === null && process.child.signalCode === null) {
        // A stopped process (a test's SIGSTOP) is resumed first, so it dies now.
        process.child.kill('SIGCONT');
        process.child.kill('SIGKILL');
      }
      await process.exited;
    }
    for (const worker of opened.workers.splice(0)) await worker.stop({ mode: 'cancel' });
    for (const front of opened.fronts.splice(0)) await front.stop();
    for (const deployment of opened.deployments.splice(0)) await deployment.cleanup();
  });
  return opened;
}
