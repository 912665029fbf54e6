// The chaos check of distributed mode (test/distributed/chaos-run.ts), once per recover mode:
// three `sprout worker` processes (`--per-parent 2`, 1 s leases), one root with 40 children whose
// careless agents stream tokens for about half a second, a zombie worker (SIGSTOP until another
// worker took its runs over, then SIGCONT), a worker killed with SIGKILL and replaced, and Redis
// losing the deployment's data mid-run (its keys deleted; the reconciler rebuilds). Every run
// ends exactly once on the parent's stream, stored status and transcript agree with the stream,
// nothing stays open, the parent's limit holds on the stream, and with requeue every child
// completes. (`node --import tsx scripts/chaos.ts --runs N` runs it repeatedly.)
import { describe, expect, it } from 'vitest';
import { runChaos, type ChaosFault } from './chaos-run.js';
import { servicesUnavailable } from './support.js';

const unavailable = await servicesUnavailable();

const FAULTS: readonly ChaosFault[] = ['zombie', 'kill', 'redis-loss'];

describe.skipIf(unavailable !== undefined)(
  'chaos: zombie and killed workers, and Redis losing its data, under one parent at its limit',
  () => {
    for (const recover of ['interrupt', 'requeue'] as const) {
      it(`every run ends exactly once and nothing a lost worker writes is visible (recover ${recover})`, async () => {
        const result = await runChaos({ recover, faults: FAULTS });
        expect({ problems: result.problems, notes: result.notes }).toEqual({ problems: [], notes: result.notes });
        expect(result.notes.some((note) => note.startsWith('zombie'))).toBe(true);
        expect(result.notes.some((note) => note.startsWith('killed'))).toBe(true);
        expect(result.notes.some((note) => note.startsWith('Redis lost'))).toBe(true);
      });
    }
  },
);
