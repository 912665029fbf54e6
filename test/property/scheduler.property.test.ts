import fc from 'fast-check';
import { describe, it } from 'vitest';
import { runScenario, type Backend } from './run-scenario.js';
import { scenarioArb } from './scenario.js';

/**
 * Model-based property of the scheduler (docs/job-lifecycle.md, issue 9): random interleavings of enqueue,
 * spawnChild, cancel, cancelTree, stop and clock steps, with faulty agents, stores and
 * subscribers, on the simulated clock; after each case every invariant is checked (see
 * invariants.ts). Seeded, so CI is repeatable: SPROUT_PROPERTY_RUNS / SPROUT_PROPERTY_SEED make
 * long or different runs (fast-check prints the seed and the shrunk case on failure).
 *
 * Invariants: per run one `sub_session_started` first and one `sub_session_completed` last on the
 * parent's stream, nothing after it (heartbeats stop; nothing at all once stop() resolved); seq
 * 1, 2, 3, … per stream and a late replay equal to what a live subscriber saw; concurrency and
 * perParentConcurrency never exceeded (counted from the agent's side); `cancelled` only on a
 * request (with its reason) and a run cancelled while queued ends cancelled; timeout/idle texts;
 * every forwarded event before the completion and the answer as its result; metadata,
 * getChild and waitForChildren agree with the completions; every API promise settles with a typed
 * error; with no hanging agent or store every run ends without a stop; stop({ mode: 'cancel' })
 * resolves; no unhandled rejection. On SQLite also: a restart on the file recovers nothing and
 * doubles nothing.
 */
// Memory runs `runs` cases, SQLite half as many (each opens a file): ~15-30 s together on a 2-core box.
const runs = Number(process.env.SPROUT_PROPERTY_RUNS ?? 200);
const seed = Number(process.env.SPROUT_PROPERTY_SEED ?? 20_260_901);

async function property(backend: Backend): Promise<void> {
  await fc.assert(
    fc.asyncProperty(scenarioArb(), async (scenario) => {
      const violations = await runScenario(scenario, backend);
      if (violations.length > 0) throw new Error(`${violations.length} invariant violation(s):\n- ${violations.slice(0, 12).join('\n- ')}`);
    }),
    { numRuns: backend === 'sqlite' ? Math.max(1, Math.ceil(runs / 2)) : runs, seed, verbose: 0 },
  );
}

describe('scheduler property: every run ends exactly once, in order (docs/job-lifecycle.md)', () => {
  it('holds on MemorySessionStore', async () => {
    await property('memory');
  }, 600_000);

  it('holds on SqliteSessionStore (with its durable event log, and a restart after the stop)', async () => {
    await property('sqlite');
  }, 600_000);
});
