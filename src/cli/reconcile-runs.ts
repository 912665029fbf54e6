import type { RecoveryReport } from '../api/scheduler-types.js';
import { createSpawnScheduler } from '../create-spawn-scheduler.js';
import type { OpenDatabase } from './open-database.js';

/**
 * Starts a scheduler on the database and stops it again: `start()` ends every run a killed
 * process left `running` or `pending` as `error` (reason `interrupted`), saves it, and publishes
 * its completion on the parent's stream. No agent ever runs.
 *
 * @example
 * const report = await reconcileRuns(openDatabase(path)); // { interrupted: ['…'], requeued: [], failed: [] }
 */
export async function reconcileRuns(db: OpenDatabase): Promise<RecoveryReport> {
  const scheduler = createSpawnScheduler({
    store: db.store,
    eventLog: db.eventLog,
    recover: 'interrupt',
    agent: { execute: () => Promise.reject(new Error('sprout status never runs agents')) },
  });
  try {
    return await scheduler.start();
  } finally {
    await scheduler.stop({ mode: 'cancel' });
  }
}
