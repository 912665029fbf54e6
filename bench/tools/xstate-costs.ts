/**
 * Micro-benchmarks behind the analysis in docs/performance.md: what the building blocks of one
 * Sprout job cost on this machine (µs, median of 5). Not part of the results table.
 *
 * Run: `node --expose-gc --import tsx bench/tools/xstate-costs.ts`
 */
import { randomUUID } from 'node:crypto';
import { assign, createActor, createMachine, fromCallback, fromPromise, sendTo, setup, toPromise, type AnyStateMachine } from 'xstate';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import type { Session } from '../../machines/session.schema.js';
import type { ReserveResult, SaveSessionInput, SpawnJob } from '../../machines/spawn-job.events.js';
import { spawnJobMachine } from '../../machines/spawn-job.machine.js';
import { toRfc3339 } from '../../src/clock.js';
import { loadValidSession } from '../../src/core/persist-run.js';
import { RunLedger } from '../../src/scheduler/run-ledger.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { childSession, jobOf } from '../lib/fixtures.js';
import { collect, median } from '../lib/stats.js';

/** µs per call of `body`, median of 5 batches (after one warm-up batch). */
async function perCall(n: number, body: (i: number) => unknown): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < 6; r++) {
    await collect();
    const start = performance.now();
    for (let i = 0; i < n; i++) {
      const out = body(i);
      if (out instanceof Promise) await out;
    }
    if (r > 0) runs.push(((performance.now() - start) * 1000) / n);
  }
  return median(runs);
}

/** µs per actor run to completion, 64 at a time. */
const perActor = (machine: AnyStateMachine, n: number, input?: (i: number) => unknown) =>
  perCall(n / 64, async (batch) => {
    await Promise.all(
      Array.from({ length: 64 }, (_, k) => {
        const options: { input?: unknown } = input ? { input: input(batch * 64 + k) } : {};
        return toPromise(createActor(machine, options).start());
      }),
    );
  }).then((us) => us / 64);

const toggle = createMachine({
  context: { n: 0 },
  initial: 'a',
  states: {
    a: { on: { go: { target: 'b', actions: assign({ n: ({ context }) => context.n + 1 }) } } },
    b: { on: { go: { target: 'a', actions: assign({ n: ({ context }) => context.n + 1 }) } } },
  },
});
const K = 4;
/** States s0 … s(k-1) built by `step`, then a final state s(k). */
function chainStates<T>(k: number, step: (next: string) => T): Record<string, T | { type: 'final' }> {
  const states: Record<string, T | { type: 'final' }> = {};
  for (let i = 0; i < k; i++) states[`s${i}`] = step(`s${i + 1}`);
  states[`s${k}`] = { type: 'final' };
  return states;
}
const promiseChain = (k: number) =>
  setup({ actors: { step: fromPromise(() => Promise.resolve(1)) } }).createMachine({
    initial: 's0',
    states: chainStates(k, (next) => ({ invoke: { src: 'step' as const, onDone: next } })),
  });
const worker = fromCallback<{ type: 'do' }>(({ sendBack, receive }) => {
  receive(() => void Promise.resolve().then(() => sendBack({ type: 'done' })));
});
const callbackChain = setup({ actors: { worker } }).createMachine({
  invoke: { id: 'worker', src: 'worker' },
  initial: 's0',
  states: chainStates(K, (next) => ({ entry: sendTo('worker', { type: 'do' }), on: { done: next } })),
});

const session = childSession('child-0');
const instantJob = spawnJobMachine.provide({
  actors: {
    loadChild: fromPromise<Session | undefined, { childSessionId: string; runId: string }>(() =>
      Promise.resolve({ ...session, messages: [...session.messages], metadata: {} }),
    ),
    reserveRun: fromPromise<ReserveResult, { job: SpawnJob; runId: string }>(() => Promise.resolve({ reserved: true })),
    saveSession: fromPromise<void, SaveSessionInput>(() => Promise.resolve()),
    runAgent: fromPromise<void, { session: Session; job: SpawnJob; runId: string }>(() => Promise.resolve()),
  },
});

async function schedulerOnly(n: number): Promise<number> {
  const done = createMachine({ initial: 'done', states: { done: { type: 'final' } } });
  let ended = 0;
  const waiters = new Map<string, () => void>();
  const logic = schedulerMachine.provide({
    actors: { spawnJob: done as never },
    actions: {
      resolveEnqueue: (_, params) => waiters.get(params.requestId)?.(),
      jobEnded: () => void (ended += 1),
    },
  });
  const actor = createActor(logic, {
    input: { concurrency: 64, perParentConcurrency: 64, queueCapacity: 128, jobLimits: { heartbeatIntervalMs: 5000 } },
  }).start();
  return perCall(
    n,
    (i) =>
      new Promise<void>((resolve) => {
        waiters.set(`q${i}`, resolve);
        actor.send({ type: 'scheduler.enqueue', requestId: `q${i}`, runId: `r${i}`, job: jobOf(i) });
      }),
  );
}

const rows: [string, number][] = [];
const row = (name: string, us: number) => {
  rows.push([name, us]);
  console.log(`${us.toFixed(2).padStart(9)} µs  ${name}`);
};

const toggler = createActor(toggle).start();
row('XState: send one event, one transition with assign', await perCall(200_000, () => toggler.send({ type: 'go' })));
row('XState: createActor + start + stop (2-state machine)', await perCall(50_000, () => createActor(toggle).start().stop()));
const bare = await perActor(promiseChain(0), 20_000);
row(
  `XState: one fromPromise invoke (state → invoke → onDone), from ${K}-step chain`,
  ((await perActor(promiseChain(K), 20_000)) - bare) / K,
);
row(`XState: one command/reply step to a long-lived fromCallback worker`, ((await perActor(callbackChain, 20_000)) - bare) / K);
row(
  'spawn-job machine alone, instant actors (one job)',
  await perActor(instantJob, 20_000, (i) => ({ job: jobOf(i), runId: `r${i}`, limits: { heartbeatIntervalMs: 5000 } })),
);
row('scheduler machine alone, instant child (enqueue → spawn → done → stop)', await schedulerOnly(20_000));

const store = new MemorySessionStore();
const stored = childSession('s');
await store.save(stored);
row('MemorySessionStore.load (structuredClone)', await perCall(50_000, () => store.load('s')));
row('loadValidSession on a memory store (load + zod parse)', await perCall(50_000, () => loadValidSession(store, 's')));
row('MemorySessionStore.save (zod parse + structuredClone + indexes)', await perCall(50_000, () => store.save(stored)));
const ledger = new RunLedger({ now: () => 0 });
row(
  'run ledger (plain Maps) queue + reserve + end',
  await perCall(50_000, (i) => {
    const childSessionId = `c${i}`;
    ledger.queue({ runId: `r${i}`, childSessionId, parentSessionId: 'p', announced: true });
    ledger.reserve(childSessionId, `r${i}`, 'p');
    ledger.end({ childSessionId, runId: `r${i}`, status: 'completed' });
  }),
);
row('crypto.randomUUID', await perCall(200_000, () => randomUUID()));
row('toRfc3339 (new Date().toISOString())', await perCall(200_000, (i) => toRfc3339(i)));
row('new AbortController() + .signal', await perCall(200_000, () => new AbortController().signal));
