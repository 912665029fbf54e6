/**
 * forwarding: (1) one child emits N token events (1,000,000 in full mode) through Sprout's
 * RunTracker and SessionEventHub, with two subscribers on the parent stream; against the raw
 * Subject → map → Subject chain. Target: ≥ 2,000,000 events/s and ≥ 0.4 × raw. Since agent trees
 * each token is appended twice (the child's own stream, then forwarded to the parent's).
 * (2) The write amplification of tree forwarding: tokens/s, appends and bytes per token of a run
 * at depth 1, 2, 3 of a real tree against the path before forwarding (one wrapped append per
 * token), on MemoryEventLog and SqliteEventLog (see forwarding-amplification.ts).
 *
 * The agent emits in one synchronous loop and times it: delivery to both subscribers is
 * synchronous, so the loop's time covers validation, seq, retention and both deliveries.
 */
import { rawForwarding } from '../baselines/raw-forwarding.js';
import { floodAgent, jobOf, ROOT_ID, seedStore } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { forwardingAmplification } from './forwarding-amplification.js';

/** One child flooding its parent; resolves with events/s as the two subscribers saw them. */
export async function sproutForwarding(count: number): Promise<{ eventsPerSec: number; received: [number, number] }> {
  const store = new MemorySessionStore();
  await seedStore(store, 1);
  let ms = Number.NaN;
  const scheduler = createSpawnScheduler({ store, agent: floodAgent(count, (elapsed) => (ms = elapsed)) });
  await scheduler.start();
  const received: [number, number] = [0, 0];
  let finished!: () => void;
  const done = new Promise<void>((resolve) => (finished = resolve));
  // Exactly two subscribers, counting forwarded tokens (the child's terminal event is forwarded
  // too); the first also notices the completion.
  const a = scheduler.events(ROOT_ID).subscribe(({ event }) => {
    if (event.type === 'sub_session_event') {
      if (event.event.type === 'token') received[0] += 1;
    } else if (event.type === 'sub_session_completed') finished();
  });
  const b = scheduler
    .events(ROOT_ID)
    .subscribe(({ event }) => event.type === 'sub_session_event' && event.event.type === 'token' && (received[1] += 1));
  await scheduler.enqueue(jobOf(0));
  await done;
  a.unsubscribe();
  b.unsubscribe();
  await scheduler.stop();
  return { eventsPerSec: count / (ms / 1000), received };
}

export async function forwarding(config: BenchConfig): Promise<ScenarioOutput> {
  const n = config.count(1_000_000, 1_000);
  const lost = new Set<string>();
  const runs = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
    const size = run < 0 ? Math.min(n, 200_000) : n;
    const sprout = await sproutForwarding(size);
    const raw = rawForwarding(size);
    for (const [who, result] of [
      ['sprout', sprout],
      ['raw', raw],
    ] as const) {
      if (result.received[0] !== size || result.received[1] !== size)
        lost.add(`${who}: subscribers saw ${result.received.join(' / ')} of ${size}`);
    }
    if (run >= 0)
      config.log(
        `forwarding run ${run + 1}: sprout ${(sprout.eventsPerSec / 1e6).toFixed(2)} M/s, raw ${(raw.eventsPerSec / 1e6).toFixed(2)} M/s`,
      );
    return { sprout: sprout.eventsPerSec, raw: raw.eventsPerSec };
  });

  const amplification = await forwardingAmplification(config);

  return {
    metrics: [
      {
        scenario: 'forwarding',
        metric: 'Sprout events/s',
        unit: 'ev/s',
        samples: runs.map((r) => r.sprout),
        target: { op: '>=', value: 2_000_000 },
      },
      { scenario: 'forwarding', metric: 'raw baseline events/s', unit: 'ev/s', samples: runs.map((r) => r.raw) },
      {
        scenario: 'forwarding',
        metric: 'Sprout / raw',
        unit: 'x',
        samples: runs.map((r) => r.sprout / r.raw),
        target: { op: '>=', value: 0.4 },
      },
      ...amplification.metrics,
    ],
    notes: [
      `${n} token events per run from one child, two subscribers on the parent stream, retention 1000 (MemoryEventLog default)`,
      ...lost,
      ...amplification.notes,
    ],
  };
}
