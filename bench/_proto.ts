import { createSpawnScheduler } from '../src/scheduler/create-spawn-scheduler.js';
import { MemorySessionStore } from '../src/stores/memory-session-store.js';
import { seedStore, tokenAgent, jobOf, ROOT_ID } from './lib/fixtures.js';

async function run(n: number, mode: 'seq' | 'all') {
  const store = new MemorySessionStore();
  await seedStore(store, n);
  const s = createSpawnScheduler({ store, agent: tokenAgent(10), concurrency: 64, perParentConcurrency: 64 });
  await s.start();
  let done = 0;
  let resolveAll!: () => void;
  const all = new Promise<void>((r) => (resolveAll = r));
  s.events(ROOT_ID).subscribe(({ event }) => { if (event.type === 'sub_session_completed') { if (event.status !== 'completed') console.log(event); if (++done === n) resolveAll(); } });
  const t0 = performance.now();
  if (mode === 'seq') { for (let i = 0; i < n; i++) await s.enqueue(jobOf(i)); }
  else await Promise.all(Array.from({ length: n }, (_, i) => s.enqueue(jobOf(i))));
  await all;
  const ms = performance.now() - t0;
  await s.stop();
  return n / (ms / 1000);
}
for (const mode of ['seq', 'all', 'seq', 'all'] as const) {
  for (const n of [2000, 10000]) console.log(mode, n, Math.round(await run(n, mode)), 'jobs/s');
}
