// Why a live run is where it is (issue 22 item 2): `runCauses` reads the scheduler's public actor
// snapshot; plain-object fakes stand in for the scheduler (only `actor.getSnapshot` and `getChild`).
import { describe, expect, it } from 'vitest';
import { runCauses } from '../../src/server/run-causes.js';
import type { ServerScheduler } from '../../src/server/server-options.js';
import { spawnJobMachine } from '../../machines/spawn-job.machine.js';
import { toMachineGraph } from '../../src/server/machine-graph.js';
// @ts-expect-error -- a browser module of the dashboard, plain JS without types
import { drawnEdges as untypedDrawnEdges } from '../../src/server/dashboard/client/graph-shape.js';

interface DrawnEdge {
  source: string;
  target: string;
  labels: string[];
  shared: boolean;
  from: string[];
}
const drawnEdges = untypedDrawnEdges as unknown as (graph: unknown) => DrawnEdge[];

const run = (runId: string, parent: string, child: string) => ({ runId, job: { parentSessionId: parent, childSessionId: child } });

function fakeScheduler(context: Record<string, unknown>, lastEventAt: Record<string, string> = {}): ServerScheduler {
  return {
    actor: { getSnapshot: () => ({ context }) },
    getChild: (id: string) =>
      Promise.resolve({ childSessionId: id, runId: `run-${id}`, status: 'running', eventsSeen: 1, lastEventAt: lastEventAt[id] }),
  } as unknown as ServerScheduler;
}

describe('runCauses', () => {
  const now = Date.parse('2026-01-01T00:01:00.000Z');

  it('names the per-parent limit, the global limit, the children a run waits on and how long a run is idle', async () => {
    const scheduler = fakeScheduler(
      {
        concurrency: 4,
        perParentConcurrency: 2,
        running: 3,
        perParent: { P: 2, Q: 1 },
        jobLimits: { idleTimeoutMs: 60_000 },
        queue: [run('run-c3', 'P', 'c3'), run('run-c9', 'Q', 'c9')],
        active: {
          'job-0': run('run-c1', 'P', 'c1'),
          'job-1': run('run-c2', 'P', 'c2'),
          'job-2': { ...run('run-w', 'Q', 'w'), waiting: true, counted: false },
          'job-3': run('run-g1', 'w', 'g1'),
        },
        resuming: [],
      },
      { c1: '2026-01-01T00:00:19.000Z' },
    );
    const { available, causes } = await runCauses(scheduler, now);
    expect(available).toBe(true);
    const byRun = new Map(causes.map((cause) => [cause.run_id, cause]));
    expect(byRun.get('run-c3')).toMatchObject({
      state: 'queued',
      limit: 'per_parent',
      used: 2,
      max: 2,
      text: 'queued: per-parent limit 2/2 of P',
    });
    expect(byRun.get('run-c9')).toMatchObject({ state: 'queued', position: 2, text: 'queued: #2, starting' });
    expect(byRun.get('run-w')).toMatchObject({ state: 'waiting', waiting_on: ['g1'], text: 'waiting on g1' });
    expect(byRun.get('run-c1')).toMatchObject({ state: 'running', idle_ms: 41_000, idle_timeout_ms: 60_000, text: 'idle 41 s of 60 s' });
  });

  it('says the global limit when every slot is taken', async () => {
    const scheduler = fakeScheduler({
      concurrency: 2,
      perParentConcurrency: 8,
      running: 2,
      perParent: { P: 2 },
      queue: [run('r', 'Q', 'c')],
      active: {},
    });
    expect((await runCauses(scheduler, now)).causes[0]?.text).toBe('queued: global limit 2/2');
  });

  it('answers available: false for a scheduler without an actor (distributed mode)', async () => {
    expect(await runCauses({} as ServerScheduler, now)).toEqual({ available: false, causes: [] });
  });
});

describe('statechart edges', () => {
  it('draws the job machine exits to cancelled and error once, from the compound state', () => {
    const graph = toMachineGraph(spawnJobMachine);
    const edges = drawnEdges(graph);
    const shared = edges.filter((edge) => edge.shared);
    expect(shared.map((edge) => `${edge.source}→${edge.target}: ${edge.labels.join(', ')}`).sort()).toEqual([
      'spawnJob→spawnJob.cancelled: job.abandon, job.timeout',
      'spawnJob→spawnJob.discarded: job.discard',
      'spawnJob→spawnJob.error: job.timeout, job.saveFailed',
    ]);
    expect(shared.find((edge) => edge.target === 'spawnJob.discarded')?.from).toEqual([
      'loading',
      'skipping',
      'reserving',
      'markingRunning',
    ]);
    // One line per pair of states: far fewer than the machine's transitions.
    expect(edges.length).toBeLessThan(graph.edges.length / 2);
    expect(new Set(edges.map((edge) => `${edge.source}|${edge.target}|${edge.shared}`)).size).toBe(edges.length);
  });
});
