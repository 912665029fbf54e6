// A chaos run of distributed mode: a front door, three `sprout worker` processes on the chaos agent
// (test/distributed/fixtures/chaos-agent-module.ts), one root with 40 children, and in one run a
// zombie worker (SIGSTOP past its lease, then SIGCONT), a worker killed (SIGKILL) and replaced,
// and the deployment's Redis keys deleted mid-run (Redis losing its data), recovered by the
// reconciler. Once everything settled (waited on conditions; the deadline is a hang guard only) it
// checks the promises and returns the problems it found (none when distributed mode held).
//
// Run it with `node --import tsx scripts/chaos.ts [--recover interrupt|requeue] [--runs N]`.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME, requeuedRunId } from '../../src/distributed/keys.js';
import { startCli, type CliProcess } from '../cli/cli-process.js';
import { rootSession } from '../support/harness.js';
import { chaosAgentKeys, type ChaosAgentStart } from './fixtures/chaos-agent-module.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  listRedisKeys,
  openRunIds,
  storedEvents,
  streamProblems,
} from './support.js';

/** The faults a chaos run injects (all by default). */
export type ChaosFault = 'zombie' | 'kill' | 'redis-loss';

/** Options of {@link runChaos}. */
export interface ChaosOptions {
  recover: 'interrupt' | 'requeue';
  children?: number;
  perParent?: number;
  /** `--lock-ms` of the workers: BullMQ lock, stalled check and run leases. */
  lockMs?: number;
  reconcileMs?: number;
  heartbeatMs?: number;
  /** Tokens each agent streams, and the wait before each. */
  tokens?: number;
  tokenMs?: number;
  /** The agents ignore their abort signal (a zombie then tries every write of the runs it lost). */
  careless?: boolean;
  faults?: readonly ChaosFault[];
  /** Hang guard for the whole run, ms (a run that has not settled by then is reported as such). */
  deadlineMs?: number;
  /** Keep the deployment (schema, Redis keys) for inspection instead of removing it. */
  keep?: boolean;
  log?: (line: string) => void;
}

/** What a chaos run found. */
export interface ChaosResult {
  prefix: string;
  recover: 'interrupt' | 'requeue';
  /** Broken promises (empty when every check held). */
  problems: string[];
  /** What happened (faults injected, counts), for the report. */
  notes: string[];
  /** Each worker's stderr, by name. */
  stderr: Record<string, string>;
}

type Completed = ReturnType<typeof completionsOf>[number];

/** The runs open at the first moment the most runs were open at once: `run@startSeq`, and the seq of that moment. */
export function peakOpen(envelopes: readonly SessionEventEnvelope[]): { seq: number; runs: string[] } {
  const open = new Map<string, number>();
  let peak = { seq: 0, runs: [] as string[] };
  for (const { seq, event } of envelopes) {
    if (event.type === 'sub_session_started') open.set(event.run_id, seq);
    if (event.type === 'sub_session_completed') open.delete(event.run_id);
    if (open.size > peak.runs.length) peak = { seq, runs: [...open].map(([run, at]) => `${run}@${at}`) };
  }
  return peak;
}

/** The most runs open at once on a stream (started and not yet completed). */
export function mostOpen(envelopes: readonly SessionEventEnvelope[]): number {
  const open = new Set<string>();
  let most = 0;
  for (const { event } of envelopes) {
    if (event.type === 'sub_session_started') open.add(event.run_id);
    if (event.type === 'sub_session_completed') open.delete(event.run_id);
    most = Math.max(most, open.size);
  }
  return most;
}

/** The most agent intervals open at once (an agent that never ended counts until `end`). */
function maxOverlap(intervals: readonly { start: number; end: number }[]): number {
  const points = intervals.flatMap((i) => [
    { at: i.start, delta: 1 },
    { at: i.end, delta: -1 },
  ]);
  points.sort((a, b) => a.at - b.at || a.delta - b.delta);
  let open = 0;
  let most = 0;
  for (const point of points) {
    open += point.delta;
    most = Math.max(most, open);
  }
  return most;
}

class DeadlineError extends Error {}

/**
 * One chaos run (see the file's header). Never throws for a broken promise: it returns it in
 * `problems`; it throws only when the harness itself fails (services unreachable).
 *
 * @example
 * const { problems } = await runChaos({ recover: 'requeue' });
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const children = options.children ?? 40;
  const perParent = options.perParent ?? 2;
  const lockMs = options.lockMs ?? 1000;
  const faults = new Set(options.faults ?? ['zombie', 'kill', 'redis-loss']);
  const log = options.log ?? (() => undefined);
  const deadline = Date.now() + (options.deadlineMs ?? 180_000);
  const deployment = createTestDeployment();
  const { prefix } = deployment;
  const problems: string[] = [];
  const notes: string[] = [];
  const workers = new Map<string, CliProcess>();
  const keys = chaosAgentKeys(prefix);
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  let front: DistributedScheduler | undefined;
  let queue: Queue | undefined;
  log(`chaos run on ${prefix}, recover ${options.recover}`);

  const waitFor = async (what: string, predicate: () => Promise<boolean> | boolean, everyMs = 50): Promise<void> => {
    while (!(await predicate())) {
      if (Date.now() > deadline) throw new DeadlineError(`hang guard: still waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  };

  const startWorker = async (name: string): Promise<CliProcess> => {
    process.env.SPROUT_PROBE_REDIS_URL = REDIS_URL;
    process.env.SPROUT_PROBE_PREFIX = prefix;
    process.env.SPROUT_CHAOS_TOKENS = String(options.tokens ?? 6);
    process.env.SPROUT_CHAOS_TOKEN_MS = String(options.tokenMs ?? 100);
    process.env.SPROUT_CHAOS_CARELESS = options.careless === false ? '0' : '1';
    const worker = startCli([
      'worker',
      ...['--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--prefix', prefix, '--name', name],
      ...['--lock-ms', String(lockMs), '--heartbeat-ms', String(options.heartbeatMs ?? 400)],
      ...['--reconcile-ms', String(options.reconcileMs ?? 500), '--per-parent', String(perParent)],
      ...['--recover', options.recover, '--concurrency', '4'],
      ...['--agent-module', 'test/distributed/fixtures/chaos-agent-module.ts'],
    ]);
    workers.set(name, worker);
    await worker.waitForLine(/^worker .* ready/, 'stdout');
    return worker;
  };

  const stream = (): Promise<SessionEventEnvelope[]> => storedEvents(prefix, 'root');
  const completions = async (): Promise<Completed[]> => completionsOf(await stream());
  const agents = async (): Promise<{ runId: string; start: ChaosAgentStart; end: number | undefined }[]> => {
    const [starts, ends] = await Promise.all([redis.hgetall(keys.starts), redis.hgetall(keys.ends)]);
    return Object.entries(starts).map(([runId, json]) => ({
      runId,
      start: JSON.parse(json) as ChaosAgentStart,
      end: ends[runId] === undefined ? undefined : Number(ends[runId]),
    }));
  };
  /** Runs whose agent runs now in `worker` and whose completion is not on the stream yet. */
  const activeRunsOf = async (worker: CliProcess): Promise<string[]> => {
    const done = new Set((await completions()).map((c) => c.run_id));
    return (await agents())
      .filter((a) => a.start.pid === worker.child.pid && a.end === undefined && !done.has(a.runId))
      .map((a) => a.runId);
  };
  const pickBusyWorker = async (except: readonly string[]): Promise<[string, CliProcess, string[]]> => {
    let found: [string, CliProcess, string[]] | undefined;
    await waitFor('a busy worker', async () => {
      for (const [name, worker] of workers) {
        if (except.includes(name) || worker.child.exitCode !== null || worker.child.signalCode !== null) continue;
        const active = await activeRunsOf(worker);
        if (active.length > 0) {
          found = [name, worker, active];
          return true;
        }
      }
      return false;
    });
    return found!;
  };

  const spawned: { childSessionId: string; runId: string }[] = [];
  let redisLossSeq: number | undefined;
  let zombieName: string | undefined;
  try {
    front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    await front.start();
    queue = new Queue(RUN_QUEUE_NAME, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix });
    queue.on('error', () => undefined);
    for (const name of ['w1', 'w2', 'w3']) await startWorker(name);
    await front.store.save(rootSession('root'));
    for (let i = 1; i <= children; i++) spawned.push(await front.spawnChild('root', { title: `child ${i}`, prompt: `Do ${i}` }));
    log(`spawned ${children} children`);

    const completedAtLeast = (n: number) => async () => (await completions()).length >= n;

    if (faults.has('zombie')) {
      await waitFor('4 completions', completedAtLeast(4));
      const [name, zombie, active] = await pickBusyWorker([]);
      zombieName = name;
      zombie.child.kill('SIGSTOP');
      log(`SIGSTOP ${name} (pid ${zombie.child.pid}) with runs ${active.join(', ')}`);
      notes.push(`zombie ${name} stopped with ${active.length} run(s) in flight`);
      // Stopped longer than its lease: every run it had in flight is ended by another worker.
      await waitFor('the zombie runs to be taken over', async () => {
        const done = new Set((await completions()).map((c) => c.run_id));
        return active.every((runId) => done.has(runId));
      });
      zombie.child.kill('SIGCONT');
      log(`SIGCONT ${name}`);
    }
    if (faults.has('kill')) {
      const before = (await completions()).length;
      await waitFor('4 more completions', completedAtLeast(before + 4));
      const [name, victim, active] = await pickBusyWorker(zombieName === undefined ? [] : [zombieName]);
      victim.child.kill('SIGKILL');
      await victim.exited;
      log(`SIGKILL ${name} (pid ${victim.child.pid}) with runs ${active.join(', ')}`);
      notes.push(`killed ${name} with ${active.length} run(s) in flight`);
      await startWorker(`${name}-replacement`);
    }
    if (faults.has('redis-loss')) {
      const before = (await completions()).length;
      await waitFor('4 more completions', completedAtLeast(before + 4));
      const lost = (await listRedisKeys(prefix)).filter((key) => !key.startsWith(`${prefix}:probe:`));
      const inFlight = (await agents()).filter((a) => a.end === undefined).length;
      redisLossSeq = (await stream()).length;
      if (lost.length > 0) await redis.del(...lost);
      log(`Redis lost ${lost.length} keys of the deployment (${inFlight} agent(s) in flight, stream at seq ${redisLossSeq})`);
      notes.push(`Redis lost ${lost.length} keys with ${inFlight} agent(s) in flight, ${before} completion(s) before`);
    }

    // Settled: nothing open, nothing queued, every child's stored run ended and on the stream.
    let stableFor = 0;
    await waitFor(
      'the run to settle',
      async () => {
        const settled = await isSettled();
        stableFor = settled ? stableFor + 1 : 0;
        return stableFor >= 3;
      },
      500,
    );
    log('settled');
    await check();
  } catch (error) {
    if (error instanceof DeadlineError) {
      problems.push(error.message);
      problems.push(...(await describeStuck()));
    } else throw error;
  } finally {
    for (const [, worker] of workers) {
      if (worker.child.exitCode === null && worker.child.signalCode === null) {
        worker.child.kill('SIGCONT');
        worker.child.kill('SIGTERM');
      }
    }
    for (const [name, worker] of workers) {
      const code = await Promise.race([worker.exited, new Promise((resolve) => setTimeout(() => resolve('timeout'), 30_000))]);
      if (code === 'timeout') {
        worker.child.kill('SIGKILL');
        await worker.exited;
        problems.push(`worker ${name} did not drain on SIGTERM within 30 s`);
      } else if (code !== 0 && code !== 'SIGKILL') problems.push(`worker ${name} exited ${String(code)}`);
    }
    await queue?.close().catch(() => undefined);
    await front?.stop().catch(() => undefined);
    redis.disconnect();
    if (!options.keep) await deployment.cleanup();
  }
  const stderr = Object.fromEntries([...workers].map(([name, worker]) => [name, worker.stderr()]));
  return { prefix, recover: options.recover, problems, notes, stderr };

  async function isSettled(): Promise<boolean> {
    if ((await openRunIds(prefix)).length > 0) return false;
    if ((await listRedisKeys(`${prefix}:sprout:live`)).length > 0) return false;
    const counts = await queue!.getJobCounts('active', 'waiting', 'delayed', 'prioritized', 'waiting-children');
    if (Object.values(counts).some((n) => n > 0)) return false;
    const done = new Set((await completions()).map((c) => c.run_id));
    for (const { childSessionId } of spawned) {
      const child = await front!.store.load(childSessionId);
      const runId = child?.metadata.last_run_id;
      if (runId === undefined || !done.has(runId)) return false;
    }
    return true;
  }

  async function describeStuck(): Promise<string[]> {
    const lines: string[] = [];
    try {
      lines.push(`  open runs: ${(await openRunIds(prefix)).join(', ') || 'none'}`);
      lines.push(`  live keys: ${(await listRedisKeys(`${prefix}:sprout:live`)).length}`);
      if (queue) {
        lines.push(`  jobs: ${JSON.stringify(await queue.getJobCounts())}`);
        for (const job of await queue.getFailed())
          lines.push(`  failed job ${job.id}: ${job.failedReason} (attempts ${job.attemptsMade}, stalled ${job.stalledCounter})`);
      }
      const done = new Set((await completions()).map((c) => c.run_id));
      for (const { childSessionId } of spawned) {
        const child = await front?.store.load(childSessionId);
        const runId = child?.metadata.last_run_id;
        if (runId === undefined || !done.has(runId))
          lines.push(`  child ${childSessionId}: stored ${child?.metadata.last_run_status} run ${runId} not completed on the stream`);
      }
    } catch (error) {
      lines.push(`  (could not describe: ${String(error)})`);
    }
    return lines;
  }

  async function check(): Promise<void> {
    const envelopes = await stream();
    for (const problem of streamProblems(envelopes)) problems.push(`stream: ${problem}`);
    const all = completionsOf(envelopes);
    const byRun = new Map<string, Completed>();
    for (const c of all) byRun.set(c.run_id, c);
    // Every spawned run ended, and (requeue) every interrupted run was run again and ended.
    for (const { runId } of spawned) if (!byRun.has(runId)) problems.push(`run ${runId} never completed on the stream`);
    // Nobody cancels anything: a run ends completed, or (its worker lost) error, reason interrupted.
    for (const c of all) {
      if (c.status !== 'completed' && !(c.status === 'error' && c.reason === 'interrupted'))
        problems.push(`run ${c.run_id} ended ${c.status}${c.reason === undefined ? '' : `/${c.reason}`} (${c.error ?? 'no error'})`);
    }
    const interrupted = all.filter((c) => c.reason === 'interrupted');
    notes.push(`${all.length} completions, ${interrupted.length} interrupted`);
    if (options.recover === 'requeue') {
      for (const c of interrupted) {
        if (!byRun.has(requeuedRunId(c.run_id))) problems.push(`requeue: interrupted run ${c.run_id} was never run again`);
      }
    }
    // The stored status agrees with the last completion of each child on the stream.
    for (const { childSessionId } of spawned) {
      const last = all.filter((c) => c.child_session_id === childSessionId).at(-1);
      const child = await front!.store.load(childSessionId);
      const status = await front!.getChild(childSessionId);
      const meta = child?.metadata ?? {};
      if (!last) {
        problems.push(`child ${childSessionId}: no completion on the stream`);
        continue;
      }
      if (meta.last_run_id !== last.run_id || meta.last_run_status !== last.status)
        problems.push(
          `child ${childSessionId}: stored ${meta.last_run_status} (run ${meta.last_run_id}) but the stream's last completion is ${last.status} (run ${last.run_id})`,
        );
      if (status?.runId !== last.run_id || status.status !== last.status)
        problems.push(
          `child ${childSessionId}: getChild says ${status?.status} (run ${status?.runId}), the stream ${last.status} (run ${last.run_id})`,
        );
      if (options.recover === 'requeue' && last.status !== 'completed')
        problems.push(`child ${childSessionId}: with requeue its last run ended ${last.status} (${last.error ?? ''})`);
      // The transcript holds only answers of runs the stream says completed, and the last one is the stream's result.
      const answers = (child?.messages ?? []).filter((m) => m.role === 'assistant' && m.id.endsWith('-answer'));
      for (const answer of answers) {
        const runId = answer.id.slice(0, -'-answer'.length);
        if (byRun.get(runId)?.status !== 'completed')
          problems.push(
            `child ${childSessionId}: transcript has the answer of run ${runId}, which the stream ends ${byRun.get(runId)?.status ?? 'never'} (a lost worker's save)`,
          );
      }
      if (last.status === 'completed' && answers.at(-1)?.content !== last.result)
        problems.push(
          `child ${childSessionId}: stored answer ${JSON.stringify(answers.at(-1)?.content)} differs from the stream's result ${JSON.stringify(last.result)}`,
        );
    }
    const open = await openRunIds(prefix);
    if (open.length > 0) problems.push(`open runs left: ${open.join(', ')}`);
    // The per-parent limit, on the stream (before Redis lost its data, and over the whole run).
    const before = redisLossSeq === undefined ? envelopes : envelopes.slice(0, redisLossSeq);
    const mostBefore = mostOpen(before);
    const mostAll = mostOpen(envelopes);
    if (mostBefore > perParent) problems.push(`per-parent limit: ${mostBefore} runs open at once on the stream (limit ${perParent})`);
    if (mostAll > perParent && mostAll !== mostBefore) {
      const peak = peakOpen(envelopes);
      problems.push(
        `per-parent limit after Redis lost its data: ${mostAll} runs open at once on the stream (limit ${perParent}; at seq ${peak.seq}: ${peak.runs.join(', ')}; Redis lost at seq ${redisLossSeq ?? '?'})`,
      );
    }
    // From the agents' side (informational: a careless agent of a zombie runs on past its run's end).
    const intervals = await agents();
    const last = Number((await redis.get(keys.clock)) ?? '0') + 1;
    notes.push(
      `agents: ${intervals.length} started, most at once of the root ${maxOverlap(intervals.map((i) => ({ start: i.start.at, end: i.end ?? last })))}`,
    );
    const ignored = await redis.hkeys(keys.ignoredAborts);
    if (ignored.length > 0) notes.push(`agents that went on after their abort: ${ignored.length}`);
  }
}
