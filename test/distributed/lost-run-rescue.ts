// A run lost on a killed `sprout worker` process, and the in-process worker that takes it over:
// shared by the tests of how a lost run is closed.
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import type { DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { redisKeys } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { createWorker } from '../../src/distributed/worker.js';
import { probeKeys } from './fixtures/probe-agent-module.js';
import type { Opened } from './opened.js';
import type { Probe } from './probe-agent.js';
import { startProbeWorker } from './probe-worker-process.js';
import { POSTGRES_URL, REDIS_URL, storedEvents, until } from './support.js';

/** The lease and lock of the victim and the rescuer, ms: short, so a takeover comes soon. */
export const LOCK_MS = 1000;

/** Runs `prefix`'s next run on a `sprout worker` process, waits until its agent started, and kills the process. */
export async function loseRunOfKilledWorker(
  opened: Opened,
  prefix: string,
  redis: Redis,
  start: () => Promise<{ runId: string }>,
): Promise<string> {
  const victim = await startProbeWorker(prefix, 'victim', ['--lock-ms', String(LOCK_MS), '--heartbeat-ms', '200'], opened.processes);
  const { runId } = await start();
  await until(async () => (await redis.hexists(probeKeys(prefix).starts, runId)) === 1, 50);
  victim.child.kill('SIGKILL');
  await victim.exited;
  return runId;
}

/** An in-process worker that takes the lost run over (its diagnostics recorded, its agent's calls in `probe`). */
export async function startRescuer(opened: Opened, prefix: string, probe: Probe, diagnostics: DistributedDiagnostic[]): Promise<void> {
  const rescuer = createWorker({
    redis: REDIS_URL,
    postgres: POSTGRES_URL,
    prefix,
    agent: probe.agent('rescuer'),
    name: 'rescuer',
    leaseMs: LOCK_MS,
    lockDurationMs: LOCK_MS,
    stalledIntervalMs: LOCK_MS,
    heartbeatIntervalMs: 200,
    admissionRetryMs: 100,
    eventRetention: 100_000,
    onDiagnostic: (diagnostic) => diagnostics.push(diagnostic),
  });
  opened.workers.push(rescuer);
  await rescuer.start();
}

/** What the rescuer reported of the run: its deferrals' reasons and its recoveries. */
export function reportsOf(diagnostics: readonly DistributedDiagnostic[], runId: string) {
  return {
    deferred: diagnostics.flatMap((d) => (d.kind === 'run_deferred' && d.runId === runId ? [d.why] : [])),
    recovered: diagnostics.filter((d) => d.kind === 'run_recovered' && d.runId === runId),
  };
}

/** Checks a root's lost run ended once: one terminal `error` event on its own stream, the store agreeing, its live run gone. */
export async function expectRootClosedOnce(
  front: DistributedScheduler,
  redis: Redis,
  prefix: string,
  rootId: string,
  runId: string,
): Promise<void> {
  const terminal = (await storedEvents(prefix, rootId)).filter(({ event }) => event.type === 'complete' || event.type === 'error');
  expect(terminal.map(({ event }) => event)).toEqual([{ type: 'error', message: WORKER_LOST_ERROR }]);
  expect((await front.store.load(rootId))?.metadata).toMatchObject({
    last_run_id: runId,
    last_run_status: 'error',
    last_run_error: WORKER_LOST_ERROR,
  });
  expect(await redis.exists(redisKeys(prefix).live(rootId))).toBe(0);
}
