/**
 * wide: N children (10,000 in full mode) running at once, heartbeats on a simulated clock, and
 * the same at a tenth of the children (1,000 in full mode) so linearity is visible.
 * Targets: ≤ 6 KB heap per running child; one heartbeat round for all N (one
 * `clock.increment(interval)`) in ≤ 20 ms; getting N children running and ending them each take
 * ≤ 10 × what the tenth takes in the same run (`start 10000 / 1000`, `end 10000 / 1000`).
 *
 * Heap per child = (heap after GC with all N running − heap after GC of the started, idle
 * scheduler) / N. It includes everything a running child costs: job actor and its invoked agent
 * actor, working copy of the session, tracker, registry record, timers, the agent's pending
 * promise (the bench agent's own closure is ~0.2 KB of it) — and the parent stream's retained
 * events (bounded at 1000).
 */
import { SimulatedClock } from 'xstate';
import { countCompletions } from '../lib/completions.js';
import { heldAgent, jobOf, ROOT_ID, seedStore, turnUntil } from '../lib/fixtures.js';
import { HeapClock } from '../lib/heap-clock.js';
import { heapAfterGc, median } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

const INTERVAL = 5000;

/** What one wide run measured. */
export interface WideRun {
  bytesPerChild: number;
  startMs: number;
  /** From releasing every agent to the last completion. */
  endMs: number;
  roundsMs: number[];
  heartbeatsPerRound: number[];
}

/** Holds `n` children running on `clock`, measures heap and `rounds` heartbeat rounds. */
export async function wideRun(n: number, clock: HeapClock | SimulatedClock, rounds: number, measureHeap = true): Promise<WideRun> {
  const store = new MemorySessionStore();
  await seedStore(store, n);
  const agent = heldAgent();
  const scheduler = createSpawnScheduler({
    store,
    agent,
    clock,
    concurrency: n,
    perParentConcurrency: n,
    queueCapacity: n,
    heartbeatIntervalMs: INTERVAL,
  });
  await scheduler.start();
  let heartbeats = 0;
  const beats = scheduler.events(ROOT_ID).subscribe(({ event }) => event.type === 'sub_session_heartbeat' && (heartbeats += 1));
  const completions = countCompletions(scheduler.events(ROOT_ID));
  const before = measureHeap ? await heapAfterGc() : 0;
  const start = performance.now();
  await Promise.all(Array.from({ length: n }, (_, i) => scheduler.enqueue(jobOf(i))));
  await turnUntil(() => agent.started === n && heartbeats === n, `${n} children running`);
  const startMs = performance.now() - start;
  const after = measureHeap ? await heapAfterGc() : 0;
  const roundsMs: number[] = [];
  const heartbeatsPerRound: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const seen = heartbeats;
    const t = performance.now();
    clock.increment(INTERVAL);
    roundsMs.push(performance.now() - t);
    heartbeatsPerRound.push(heartbeats - seen);
  }
  const released = performance.now();
  agent.releaseAll();
  await completions.until(n);
  const endMs = performance.now() - released;
  beats.unsubscribe();
  completions.unsubscribe();
  await scheduler.stop();
  return { bytesPerChild: (after - before) / n, startMs, endMs, roundsMs, heartbeatsPerRound };
}

/**
 * Builds (each: N/10 children started and ended, then N children started, measured, released) in
 * full mode. Starting and ending 10,000 children took minutes with a quadratic scheduler (see
 * docs/performance.md), so full mode builds twice (5 heartbeat rounds each); `BENCH_WIDE_RUNS`
 * sets the number of builds.
 */
function buildsFor(config: BenchConfig): number {
  if (process.env.BENCH_WIDE_RUNS) return Number(process.env.BENCH_WIDE_RUNS);
  return config.mode === 'full' ? Math.min(2, config.runs) : config.runs;
}

export async function wide(config: BenchConfig): Promise<ScenarioOutput> {
  const n = config.count(10_000, 100);
  // A tenth of the children (1,000 in full mode), built before each N build in the same run.
  const tenth = config.count(1_000, 10);
  const builds = buildsFor(config);
  const roundsPerRun = config.mode === 'smoke' ? 2 : 5;
  if (config.mode !== 'smoke') await wideRun(Math.min(n, 1_000), new HeapClock(), 1, false);
  const runs: WideRun[] = [];
  const tenthRuns: WideRun[] = [];
  for (let run = 0; run < builds; run++) {
    const small = await wideRun(tenth, new HeapClock(), roundsPerRun);
    tenthRuns.push(small);
    const result = await wideRun(n, new HeapClock(), roundsPerRun);
    runs.push(result);
    config.log(
      `wide build ${run + 1}: ${(result.bytesPerChild / 1024).toFixed(2)} KB/child, start ${result.startMs.toFixed(0)} ms, end ${result.endMs.toFixed(0)} ms, rounds ${result.roundsMs.map((ms) => ms.toFixed(1)).join(' / ')} ms; ${tenth} children: start ${small.startMs.toFixed(0)} ms, end ${small.endMs.toFixed(0)} ms`,
    );
  }
  // XState's own SimulatedClock, at a tenth of the children: its flush re-sorts all timers each
  // time a timer is set or cleared while flushing, so a round is quadratic in the children.
  const small = Math.max(50, Math.round(n / 10));
  const xstateClock = await wideRun(small, new SimulatedClock(), 1, false);
  const badRounds = runs.flatMap((r) => r.heartbeatsPerRound).filter((count) => count !== n);
  return {
    metrics: [
      {
        scenario: 'wide',
        metric: 'heap per running child',
        unit: 'KB',
        samples: runs.map((r) => r.bytesPerChild / 1024),
        target: { op: '<=', value: 6 },
      },
      {
        scenario: 'wide',
        metric: `heartbeat round, ${n} children`,
        unit: 'ms',
        samples: runs.flatMap((r) => r.roundsMs),
        target: { op: '<=', value: 20 },
      },
      { scenario: 'wide', metric: `time to get ${n} children running`, unit: 'ms', samples: runs.map((r) => r.startMs) },
      { scenario: 'wide', metric: `time to end ${n} running children`, unit: 'ms', samples: runs.map((r) => r.endMs) },
      { scenario: 'wide', metric: `time to get ${tenth} children running`, unit: 'ms', samples: tenthRuns.map((r) => r.startMs) },
      { scenario: 'wide', metric: `time to end ${tenth} running children`, unit: 'ms', samples: tenthRuns.map((r) => r.endMs) },
      {
        scenario: 'wide',
        metric: `start ${n} / ${tenth}`,
        unit: 'x',
        samples: runs.map((r, i) => r.startMs / tenthRuns[i]!.startMs),
        target: { op: '<=', value: 10 },
      },
      {
        scenario: 'wide',
        metric: `end ${n} / ${tenth}`,
        unit: 'x',
        samples: runs.map((r, i) => r.endMs / tenthRuns[i]!.endMs),
        target: { op: '<=', value: 10 },
      },
      {
        scenario: 'wide',
        metric: `round on xstate SimulatedClock, ${small} children`,
        unit: 'ms',
        samples: xstateClock.roundsMs,
        note: 'XState SimulatedClock re-sorts all timers per re-armed timer',
      },
    ],
    notes: [
      `${n} children held in running (concurrency = queueCapacity = ${n}), heartbeat every ${INTERVAL} ms on a heap-based simulated clock (bench/lib/heap-clock.ts); ${builds} build(s) × ${roundsPerRun} rounds (BENCH_WIDE_RUNS), each after a build of ${tenth} children for the ratios (linear: ≤ ${n / tenth} ×)`,
      `heartbeat rounds: median ${median(runs.flatMap((r) => r.heartbeatsPerRound))} heartbeats per round${badRounds.length ? ` — ${badRounds.length} round(s) did not publish exactly ${n}` : ''}`,
    ],
  };
}
