/**
 * latency: enqueue → agent started, for 1,000 jobs queued under the concurrency cap (concurrency
 * and queue capacity 1,024, so no job waits for a slot). Targets: paced p99 ≤ 5 ms; burst p99
 * ≤ 3 × the bare baseline's burst p99 in the same run.
 *
 * Two arrival patterns: `burst` enqueues all 1,000 in one synchronous loop (the last one waits
 * behind the set-up work of the 999 before it on the one JS thread), `paced` enqueues the next
 * one after the previous agent started (the latency of one enqueue on an idle scheduler). The
 * bare baseline's burst shows what the single thread costs without XState; the burst target is
 * relative to it because both depend on the machine's speed the same way.
 */
import { BareRunner } from '../baselines/bare-runner.js';
import { countCompletions } from '../lib/completions.js';
import { childId, jobOf, ROOT_ID, seedStore, tokenAgent, turnUntil } from '../lib/fixtures.js';
import { median, percentile, sample } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

const CAP = 1024;

/** Enqueue → start latencies (ms) of `n` jobs. */
async function latencies(n: number, pattern: 'burst' | 'paced', runner: 'sprout' | 'bare'): Promise<number[]> {
  const store = new MemorySessionStore();
  await seedStore(store, n);
  const enqueuedAt = new Map<string, number>();
  const startedAt = new Map<string, number>();
  const agent = tokenAgent(10, (session) => startedAt.set(session.id, performance.now()));
  const target =
    runner === 'sprout'
      ? createSpawnScheduler({ store, agent, concurrency: CAP, perParentConcurrency: CAP, queueCapacity: CAP })
      : new BareRunner({ store, agent, concurrency: CAP });
  if ('start' in target) await target.start();
  const completions = countCompletions(target.events(ROOT_ID));
  const enqueue = (i: number) => {
    enqueuedAt.set(childId(i), performance.now());
    return target.enqueue(jobOf(i));
  };
  if (pattern === 'burst') {
    await Promise.all(Array.from({ length: n }, (_, i) => enqueue(i)));
  } else {
    for (let i = 0; i < n; i++) {
      await enqueue(i);
      await turnUntil(() => startedAt.has(childId(i)), `agent ${i} started`);
    }
  }
  await completions.until(n);
  completions.unsubscribe();
  if ('stop' in target) await target.stop();
  return [...enqueuedAt].map(([id, at]) => startedAt.get(id)! - at);
}

export async function latency(config: BenchConfig): Promise<ScenarioOutput> {
  const n = config.mode === 'smoke' ? 100 : 1_000;
  const runs = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
    const burst = await latencies(n, 'burst', 'sprout');
    const paced = await latencies(n, 'paced', 'sprout');
    const bare = await latencies(n, 'burst', 'bare');
    if (run >= 0) {
      config.log(
        `latency run ${run + 1}: p99 burst ${percentile(burst, 99).toFixed(2)} ms, paced ${percentile(paced, 99).toFixed(2)} ms, bare burst ${percentile(bare, 99).toFixed(2)} ms`,
      );
    }
    return { burst, paced, bare };
  });
  return {
    metrics: [
      {
        scenario: 'latency',
        metric: `p99 enqueue→start, burst of ${n}`,
        unit: 'ms',
        samples: runs.map((r) => percentile(r.burst, 99)),
      },
      {
        scenario: 'latency',
        metric: `p99 enqueue→start, paced`,
        unit: 'ms',
        samples: runs.map((r) => percentile(r.paced, 99)),
        target: { op: '<=', value: 5 },
      },
      { scenario: 'latency', metric: `p50 enqueue→start, burst of ${n}`, unit: 'ms', samples: runs.map((r) => percentile(r.burst, 50)) },
      { scenario: 'latency', metric: `bare baseline p99, burst of ${n}`, unit: 'ms', samples: runs.map((r) => percentile(r.bare, 99)) },
      {
        scenario: 'latency',
        metric: `p99 burst / bare p99 burst`,
        unit: 'x',
        samples: runs.map((r) => percentile(r.burst, 99) / percentile(r.bare, 99)),
        target: { op: '<=', value: 3 },
      },
    ],
    notes: [
      `${n} jobs, concurrency = queueCapacity = ${CAP} (nothing waits for a slot); paced p50 ${median(runs.map((r) => percentile(r.paced, 50))).toFixed(3)} ms, burst max ${median(runs.map((r) => Math.max(...r.burst))).toFixed(1)} ms`,
    ],
  };
}
