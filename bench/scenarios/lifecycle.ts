/**
 * lifecycle: N jobs through the full lifecycle (memory store, an agent that emits 10 tokens and
 * answers), concurrency 64, against the bare baseline (same work, no XState).
 * Target: Sprout / bare ≥ 0.30 × in the same run; Sprout's jobs/s is reported (info).
 */
import type { InspectionEvent } from 'xstate';
import { BareRunner } from '../baselines/bare-runner.js';
import { countCompletions } from '../lib/completions.js';
import { jobOf, ROOT_ID, seedStore, tokenAgent } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';

/** Concurrency of the lifecycle runs (the figure). */
export const LIFECYCLE_CONCURRENCY = 64;

/** One timed run's result. */
export interface LifecycleRun {
  jobsPerSec: number;
  ms: number;
  problems: string;
}

/** Options of a lifecycle run. */
export interface LifecycleOptions {
  concurrency?: number;
  agent?: AgentRuntime;
  inspect?: (event: InspectionEvent) => void;
}

/**
 * Seeds `store` with N children (untimed), then times N jobs through a fresh Sprout scheduler:
 * from the first `enqueue` to the Nth `sub_session_completed` on the parent stream. The producer
 * awaits each `enqueue`, so it follows the queue's backpressure (capacity 128, the default).
 */
export async function sproutLifecycle(store: SessionStore, n: number, options: LifecycleOptions = {}): Promise<LifecycleRun> {
  const concurrency = options.concurrency ?? LIFECYCLE_CONCURRENCY;
  await seedStore(store, n);
  const scheduler = createSpawnScheduler({
    store,
    agent: options.agent ?? tokenAgent(10),
    concurrency,
    perParentConcurrency: concurrency,
    ...(options.inspect ? { inspect: options.inspect } : {}),
  });
  await scheduler.start();
  const completions = countCompletions(scheduler.events(ROOT_ID));
  const start = performance.now();
  for (let i = 0; i < n; i++) await scheduler.enqueue(jobOf(i));
  await completions.until(n);
  const ms = performance.now() - start;
  completions.unsubscribe();
  await scheduler.stop();
  return { jobsPerSec: n / (ms / 1000), ms, problems: completions.problems() };
}

/** The same N jobs through the bare baseline. */
export async function bareLifecycle(store: SessionStore, n: number, concurrency = LIFECYCLE_CONCURRENCY): Promise<LifecycleRun> {
  await seedStore(store, n);
  const runner = new BareRunner({ store, agent: tokenAgent(10), concurrency });
  const completions = countCompletions(runner.events(ROOT_ID));
  const start = performance.now();
  for (let i = 0; i < n; i++) await runner.enqueue(jobOf(i));
  await completions.until(n);
  const ms = performance.now() - start;
  completions.unsubscribe();
  return { jobsPerSec: n / (ms / 1000), ms, problems: completions.problems() };
}

/** How many events XState processes per job (all actors), counted with `inspect` on a small run. */
export async function xstateEventsPerJob(n = 200): Promise<{ events: number; snapshots: number; actors: number }> {
  let events = 0;
  let snapshots = 0;
  let actors = 0;
  await sproutLifecycle(new MemorySessionStore(), n, {
    inspect: (event) => {
      if (event.type === '@xstate.event') events += 1;
      else if (event.type === '@xstate.snapshot') snapshots += 1;
      else if (event.type === '@xstate.actor') actors += 1;
    },
  });
  return { events: events / n, snapshots: snapshots / n, actors: actors / n };
}

export async function lifecycle(config: BenchConfig): Promise<ScenarioOutput> {
  const n = config.count(10_000, 50);
  const warmup = config.mode === 'smoke' ? 0 : 1;
  const problems = new Set<string>();
  const runs = await sample(config.runs, warmup, async (run) => {
    const size = run < 0 ? Math.min(n, 2_000) : n;
    // Alternate the order so neither side always runs on a warmer (or more fragmented) heap.
    const sproutFirst = run % 2 === 0;
    const a = sproutFirst ? await sproutLifecycle(new MemorySessionStore(), size) : await bareLifecycle(new MemorySessionStore(), size);
    const b = sproutFirst ? await bareLifecycle(new MemorySessionStore(), size) : await sproutLifecycle(new MemorySessionStore(), size);
    const [sprout, bare] = sproutFirst ? [a, b] : [b, a];
    if (sprout.problems) problems.add(`sprout: ${sprout.problems}`);
    if (bare.problems) problems.add(`bare: ${bare.problems}`);
    if (run >= 0)
      config.log(`lifecycle run ${run + 1}: sprout ${sprout.jobsPerSec.toFixed(0)} jobs/s, bare ${bare.jobsPerSec.toFixed(0)} jobs/s`);
    return { sprout: sprout.jobsPerSec, bare: bare.jobsPerSec };
  });
  const perJob = await xstateEventsPerJob(config.mode === 'smoke' ? 20 : 200);
  return {
    metrics: [
      {
        scenario: 'lifecycle',
        metric: 'Sprout throughput',
        unit: 'jobs/s',
        samples: runs.map((r) => r.sprout),
      },
      { scenario: 'lifecycle', metric: 'bare baseline throughput', unit: 'jobs/s', samples: runs.map((r) => r.bare) },
      {
        scenario: 'lifecycle',
        metric: 'Sprout / bare',
        unit: 'x',
        samples: runs.map((r) => r.sprout / r.bare),
        target: { op: '>=', value: 0.3 },
      },
    ],
    notes: [
      `${n} jobs per run, concurrency ${LIFECYCLE_CONCURRENCY} (perParentConcurrency ${LIFECYCLE_CONCURRENCY}), queueCapacity 128, MemorySessionStore, 10-token agent`,
      `XState work per job: ${perJob.events.toFixed(1)} events processed, ${perJob.snapshots.toFixed(1)} snapshots, ${perJob.actors.toFixed(1)} actors created`,
      ...[...problems].map((p) => `non-completed runs: ${p}`),
    ],
  };
}
