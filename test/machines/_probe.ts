import { planEnqueue, planJobEnd } from '../../machines/scheduler.plan.js';
import { emptyContext, request } from './scheduler.fixtures.js';
for (const n of [2000, 3000, 4000]) {
  let ctx = emptyContext({ concurrency: 1_000_000, perParentConcurrency: 1, queueCapacity: 1 });
  ctx = planEnqueue(ctx, request('a1', 'A')).context;
  ctx = planEnqueue(ctx, request('a2', 'A')).context;
  for (let i = 0; i < n; i++) ctx = planEnqueue(ctx, request('w' + i, 'P' + i)).context;
  console.log(n, 'waiting', ctx.waiting.length);
  const t = performance.now();
  try {
    const plan = planJobEnd(ctx, ctx.activeByChild['a1']!);
    console.log(n, 'ok', plan.context.running, plan.context.waiting.length, Math.round(performance.now() - t), 'ms');
  } catch (e) { console.log(n, 'threw', (e as Error).message, Math.round(performance.now() - t), 'ms'); }
}
