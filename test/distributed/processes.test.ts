// Distributed mode across processes: `sprout worker` child processes (node --import tsx
// src/cli/main.ts worker …) against the real Redis and PostgreSQL, hundreds of children over
// several parents, and one worker killed with SIGKILL while it runs. Afterwards every run has
// exactly one start and one completion, every parent's seq is contiguous, the limits were never
// exceeded (counted from the agents' side on one logical clock in Redis), and the killed worker's
// runs ended as `recover` says. Waits on conditions only; the agents' short real waits are never
// asserted.
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { requeuedRunId } from '../../src/distributed/keys.js';
import { WORKER_LOST_ERROR } from '../../src/distributed/lost-run.js';
import { createWorker } from '../../src/distributed/worker.js';
import { startCli, type CliProcess } from '../cli/cli-process.js';
import { rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { probeKeys, type ProbeStart } from './fixtures/probe-agent-module.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

const LOCK_MS = 5000;

/** Starts one `sprout worker` process on the probe agent and waits for its ready line. */
async function startWorkerProcess(prefix: string, name: string, flags: string[]): Promise<CliProcess> {
  const args = [
    'worker',
    '--redis',
    REDIS_URL,
    '--postgres',
    POSTGRES_URL,
    '--prefix',
    prefix,
    '--name',
    name,
    '--lock-ms',
    String(LOCK_MS),
    '--heartbeat-ms',
    '250',
    '--agent-module',
    'test/distributed/fixtures/probe-agent-module.ts',
    ...flags,
  ];
  process.env.SPROUT_PROBE_REDIS_URL = REDIS_URL;
  process.env.SPROUT_PROBE_PREFIX = prefix;
  const worker = startCli(args);
  opened.processes.push(worker);
  await worker.waitForLine(/^worker .* ready/, 'stdout');
  return worker;
}

/** The agents' intervals on the logical clock; an agent that never ended (its process was killed) ends at `killedAt`. */
async function agentIntervals(prefix: string, killedAt: number): Promise<{ runId: string; start: ProbeStart; end: number }[]> {
  const redis = new Redis(REDIS_URL);
  redis.on('error', () => undefined);
  try {
    const keys = probeKeys(prefix);
    const [starts, ends] = await Promise.all([redis.hgetall(keys.starts), redis.hgetall(keys.ends)]);
    return Object.entries(starts).map(([runId, json]) => {
      const start = JSON.parse(json) as ProbeStart;
      return { runId, start, end: ends[runId] === undefined ? killedAt : Number(ends[runId]) };
    });
  } finally {
    redis.disconnect();
  }
}

/** The most intervals open at once (an interval is [start, end] on the logical clock). */
function maxOverlap(intervals: readonly { start: { at: number }; end: number }[]): number {
  const points = intervals.flatMap((interval) => [
    { at: interval.start.at, delta: 1 },
    { at: interval.end, delta: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let max = 0;
  for (const point of points) {
    open += point.delta;
    max = Math.max(max, open);
  }
  return max;
}

async function frontDoor(prefix: string, concurrency?: number): Promise<DistributedScheduler> {
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, concurrency, eventRetention: 100_000 });
  opened.fronts.push(front);
  await front.start();
  return front;
}

/** The logical clock's next tick (what "now" is for the probe's intervals). */
async function tick(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL);
  redis.on('error', () => undefined);
  try {
    return await redis.incr(probeKeys(prefix).clock);
  } finally {
    redis.disconnect();
  }
}

describe.skipIf(unavailable !== undefined)('distributed mode across `sprout worker` processes', () => {
  it('runs hundreds of children on three worker processes, one of them killed with SIGKILL mid-run (recover requeue)', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const GLOBAL = 8;
    const PER_PARENT = 3;
    const front = await frontDoor(prefix, GLOBAL);
    const flags = ['--concurrency', '4', '--per-parent', String(PER_PARENT), '--recover', 'requeue'];

    // The victim starts first and takes two children that hang until their worker dies: it is
    // surely running something when it is killed. (Run again after the kill, they complete.)
    const victim = await startWorkerProcess(prefix, 'victim', flags);
    const victimPid = victim.child.pid!;
    await front.store.save(rootSession('hangers'));
    const hangers = [];
    for (let i = 1; i <= 2; i++) hangers.push(await front.spawnChild('hangers', { title: `hang once ${i}`, prompt: 'hang' }));
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 2, 50);
    } finally {
      redis.disconnect();
    }
    const survivors = [await startWorkerProcess(prefix, 'w2', flags), await startWorkerProcess(prefix, 'w3', flags)];

    const parents = ['p1', 'p2', 'p3', 'p4'];
    const PER = 60;
    for (const parent of parents) await front.store.save(rootSession(parent));
    const runs: { parent: string; childSessionId: string; runId: string }[] = [];
    for (let i = 1; i <= PER; i++) {
      for (const parent of parents)
        runs.push({ parent, ...(await front.spawnChild(parent, { title: `${parent} child ${i}`, prompt: `Do ${i}` })) });
    }

    // Kill the victim while the bulk is in flight.
    await until(async () => (await storedEvents(prefix, 'p1')).filter((e) => e.event.type === 'sub_session_completed').length >= 5, 50);
    victim.child.kill('SIGKILL');
    expect(await victim.exited).toBe('SIGKILL');
    const killedAt = await tick(prefix);

    // Done: no child has a queued or running run left, and nothing is open in the ledger.
    await until(async () => (await listRedisKeys(`${prefix}:sprout:live`)).length === 0 && (await openRunIds(prefix)).length === 0, 200);

    const intervals = await agentIntervals(prefix, killedAt);
    const killedRuns = new Set(intervals.filter((i) => i.start.pid === victimPid && i.end === killedAt).map((i) => i.runId));
    expect(killedRuns.size).toBeGreaterThanOrEqual(2);
    for (const hanger of hangers) expect(killedRuns.has(hanger.runId)).toBe(true);

    for (const parent of ['hangers', ...parents]) {
      const stored = await storedEvents(prefix, parent);
      expect(streamProblems(stored)).toEqual([]);
      const completions = completionsOf(stored);
      const byRun = new Map(completions.map((c) => [c.run_id, c]));
      for (const completion of completions) {
        if (completion.reason === 'interrupted') {
          // A run of the killed worker: ended once as interrupted, then its child ran again, to completion.
          expect(completion).toMatchObject({ status: 'error', error: WORKER_LOST_ERROR });
          expect(byRun.get(requeuedRunId(completion.run_id))?.status).toBe('completed');
        } else expect([completion.run_id, completion.status]).toEqual([completion.run_id, 'completed']);
      }
      for (const runId of killedRuns) {
        const completion = byRun.get(runId);
        if (completion) expect(completion.reason).toBe('interrupted');
      }
    }
    // Every spawned run ended exactly once (streamProblems), and every child's final run completed.
    for (const run of [...hangers.map((h) => ({ parent: 'hangers', ...h })), ...runs]) {
      const child = await front.store.load(run.childSessionId);
      expect([run.childSessionId, child?.metadata.last_run_status]).toEqual([run.childSessionId, 'completed']);
    }
    for (const runId of killedRuns) {
      const parent = intervals.find((i) => i.runId === runId)!.start.parent;
      expect(completionsOf(await storedEvents(prefix, parent)).find((c) => c.run_id === runId)?.reason).toBe('interrupted');
    }

    const allCompletions = (await Promise.all(['hangers', ...parents].map((p) => storedEvents(prefix, p)))).flatMap(completionsOf);
    const interrupted = allCompletions.filter((c) => c.reason === 'interrupted');
    // One completion per spawned run, plus one per requeued run (each interrupted run was run again once).
    expect(allCompletions).toHaveLength(runs.length + hangers.length + interrupted.length);
    expect(new Set(intervals.map((i) => i.start.pid)).size).toBe(3);

    // Limits, from the agents' side.
    expect(maxOverlap(intervals)).toBeLessThanOrEqual(GLOBAL);
    const overLimit = ['hangers', ...parents]
      .map((parent) => [parent, maxOverlap(intervals.filter((i) => i.start.parent === parent))] as const)
      .filter(([, most]) => most > PER_PARENT);
    expect(overLimit).toEqual([]);

    // The survivors drain on SIGTERM and exit 0.
    for (const survivor of survivors) survivor.child.kill('SIGTERM');
    for (const survivor of survivors) {
      expect(await survivor.exited).toBe(0);
      expect(survivor.stderr()).toContain('sprout worker: stopped');
    }
  });

  it('runs children on the default scripted demo agent (no model) and drains on SIGTERM', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = await frontDoor(prefix);
    const worker = startCli(['worker', '--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--prefix', prefix, '--heartbeat-ms', '200']);
    opened.processes.push(worker);
    await worker.waitForLine(/^worker .* ready \(prefix .*, concurrency 4, per-parent 8, recover interrupt\)$/, 'stdout');
    await front.store.save(rootSession('root'));
    const children = [
      await front.spawnChild('root', { title: 'Survey sources', prompt: 'Find three sources' }),
      await front.spawnChild('root', { title: 'Check licences', prompt: 'Check them' }),
    ];
    const ends = await front.waitForChildren('root', { childSessionIds: children.map((c) => c.childSessionId) });
    expect(ends.map((e) => e.status)).toEqual(['completed', 'completed']);
    expect(ends[0]?.result).toMatch(/^Summary of Survey sources: \d sources agree\.$/);
    // SIGTERM while a child runs: it finishes, then the worker exits 0.
    const last = await front.spawnChild('root', { title: 'Draft notes', prompt: 'Draft them' });
    await until(async () => (await front.getChild(last.childSessionId))?.status === 'running', 50);
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(worker.stderr()).toContain('sprout worker: draining: 1 running run(s) finish');
    expect((await front.getChild(last.childSessionId))?.status).toBe('completed');
    const stored = await storedEvents(prefix, 'root');
    expect(streamProblems(stored)).toEqual([]);
    expect(stored.filter((e) => e.event.type === 'sub_session_event').length).toBeGreaterThan(3);
  });

  it('ends the runs of a killed worker as error, reason interrupted, with recover interrupt (the agent does not run again)', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = await frontDoor(prefix);
    const victim = await startWorkerProcess(prefix, 'victim', ['--concurrency', '2']);
    await front.store.save(rootSession('root'));
    const hung = [
      await front.spawnChild('root', { title: 'hang 1', prompt: 'hang' }),
      await front.spawnChild('root', { title: 'hang 2', prompt: 'hang' }),
    ];
    const redis = new Redis(REDIS_URL);
    redis.on('error', () => undefined);
    try {
      await until(async () => (await redis.hlen(probeKeys(prefix).starts)) === 2, 50);
    } finally {
      redis.disconnect();
    }
    victim.child.kill('SIGKILL');
    await victim.exited;

    // An in-process worker takes the re-delivered jobs over.
    const probe = createProbe();
    const worker = createWorker({
      redis: REDIS_URL,
      postgres: POSTGRES_URL,
      prefix,
      agent: probe.agent('rescuer'),
      recover: 'interrupt',
      lockDurationMs: LOCK_MS,
      stalledIntervalMs: LOCK_MS,
      leaseMs: LOCK_MS,
      eventRetention: 100_000,
    });
    opened.workers.push(worker);
    await worker.start();
    const ends = await front.waitForChildren('root', { childSessionIds: hung.map((h) => h.childSessionId) });
    expect(ends.map((e) => [e.runId, e.status, e.error])).toEqual(hung.map((h) => [h.runId, 'error', WORKER_LOST_ERROR]));
    await until(async () => (await listRedisKeys(`${prefix}:sprout:live`)).length === 0);
    const stored = await storedEvents(prefix, 'root');
    expect(streamProblems(stored)).toEqual([]);
    expect(completionsOf(stored).map((c) => c.reason)).toEqual(['interrupted', 'interrupted']);
    expect(probe.calls).toEqual([]);
    for (const h of hung) {
      expect((await front.store.load(h.childSessionId))?.metadata).toMatchObject({
        last_run_status: 'error',
        last_run_error: WORKER_LOST_ERROR,
        last_run_id: h.runId,
      });
    }
    expect(await openRunIds(prefix)).toEqual([]);
  });
});
