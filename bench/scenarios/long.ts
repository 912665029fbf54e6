/**
 * long: N jobs in sequence (1,000,000 in full mode; `BENCH_LONG_JOBS` overrides) through one
 * scheduler, the way a long-lived server runs them: `spawnChild` creates each child (saved in the
 * memory store), a 10-token agent answers, and the child is deleted from the store once its
 * completion arrives, so the store itself stays small. The heap is sampled after a full GC at
 * 10 checkpoints (the queue drained at each); growth is measured from the first checkpoint (10 %
 * of the jobs, when every bounded buffer — the 10,000 retained ended runs, the 1000 retained
 * events — is already full) to the last. Target: growth ≤ 20 MB.
 */
import { countCompletions } from '../lib/completions.js';
import { ROOT_ID, rootSession, tokenAgent } from '../lib/fixtures.js';
import { heapAfterGc } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

const MB = 1024 * 1024;

/** Heap after GC at a checkpoint. */
interface Checkpoint {
  jobs: number;
  heapBytes: number;
  elapsedMs: number;
}

/** Least-squares slope of heap over jobs, in bytes per job. */
function slope(points: readonly Checkpoint[]): number {
  const n = points.length;
  const mx = points.reduce((sum, p) => sum + p.jobs, 0) / n;
  const my = points.reduce((sum, p) => sum + p.heapBytes, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.jobs - mx) * (p.heapBytes - my);
    den += (p.jobs - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Runs `n` jobs and samples the heap after GC every `n / checkpoints` jobs (the queue drained first). */
export async function longRun(n: number, checkpoints: number, log: (message: string) => void) {
  const store = new MemorySessionStore();
  await store.save(rootSession());
  const scheduler = createSpawnScheduler({ store, agent: tokenAgent(10), concurrency: 64, perParentConcurrency: 64 });
  await scheduler.start();
  const completions = countCompletions(scheduler.events(ROOT_ID), (childSessionId) => void store.delete(childSessionId));
  const points: Checkpoint[] = [];
  const slice = Math.max(1, Math.ceil(n / checkpoints));
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    await scheduler.spawnChild(ROOT_ID, { title: `job ${i}`, prompt: `Do job ${i} and answer in one line.` });
    if ((i + 1) % slice === 0 || i + 1 === n) {
      await completions.until(i + 1);
      const heapBytes = await heapAfterGc();
      points.push({ jobs: i + 1, heapBytes, elapsedMs: performance.now() - start });
      log(
        `long: ${i + 1} jobs, heap ${(heapBytes / MB).toFixed(1)} MB, store ${store.size} sessions, ${((i + 1) / ((performance.now() - start) / 1000)).toFixed(0)} jobs/s`,
      );
    }
  }
  const elapsedMs = performance.now() - start;
  completions.unsubscribe();
  await scheduler.stop();
  return { points, elapsedMs, problems: completions.problems(), storeSize: store.size };
}

export async function long(config: BenchConfig): Promise<ScenarioOutput> {
  const n = process.env.BENCH_LONG_JOBS
    ? Number(process.env.BENCH_LONG_JOBS)
    : config.mode === 'smoke'
      ? 2_000
      : config.count(1_000_000, 500);
  const runs = process.env.BENCH_LONG_RUNS ? Number(process.env.BENCH_LONG_RUNS) : 1;
  const growth: number[] = [];
  const perJob: number[] = [];
  const throughput: number[] = [];
  const notes: string[] = [];
  for (let run = 0; run < runs; run++) {
    const result = await longRun(n, 10, config.log);
    const warm = result.points[0]!;
    const last = result.points.at(-1)!;
    growth.push((last.heapBytes - warm.heapBytes) / MB);
    perJob.push(slope(result.points));
    throughput.push(n / (result.elapsedMs / 1000));
    notes.push(
      `run ${run + 1}: heap after GC (MB) at ${result.points.map((p) => `${p.jobs}: ${(p.heapBytes / MB).toFixed(1)}`).join(', ')}; store left with ${result.storeSize} session(s)${result.problems ? `; non-completed: ${result.problems}` : ''}`,
    );
  }
  return {
    metrics: [
      {
        scenario: 'long',
        metric: `heap growth after GC, ${n.toLocaleString('en-US')} jobs`,
        unit: 'MB',
        samples: growth,
        target: { op: '<=', value: 20 },
      },
      { scenario: 'long', metric: 'heap slope (least squares)', unit: 'B/job', samples: perJob },
      { scenario: 'long', metric: 'throughput over the long run', unit: 'jobs/s', samples: throughput },
    ],
    notes: [
      `${n} jobs via spawnChild, concurrency 64, each child deleted from the store on completion; ${runs} run(s) (BENCH_LONG_RUNS), growth from the 10 % checkpoint to the end`,
      ...notes,
    ],
  };
}
