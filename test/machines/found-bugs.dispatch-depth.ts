/**
 * Reproduction for found-bugs.test.ts (run by it in a child process with a small stack):
 * one job end that lets N waiting runs start at once. Prints `ok <running>` or `threw <message>`.
 *
 * Usage: node --stack-size=100 --import tsx test/machines/found-bugs.dispatch-depth.ts 1000
 */
import { planEnqueue, planJobEnd } from '../../machines/scheduler.plan.js';
import { emptyContext, request } from './scheduler.fixtures.js';

const waiters = Number(process.argv[2] ?? '1000');
// Parent A holds its only slot and has a second run queued: the queue (capacity 1) is full of a
// blocked run, so every later enqueue waits. Each waiter has its own parent, so all can start.
let context = emptyContext({ concurrency: 1_000_000, perParentConcurrency: 1, queueCapacity: 1 });
context = planEnqueue(context, request('a1', 'A')).context;
context = planEnqueue(context, request('a2', 'A')).context;
for (let i = 0; i < waiters; i++) context = planEnqueue(context, request(`w${i}`, `P${i}`)).context;

try {
  const slot = context.activeByChild.a1 ?? 'job-0';
  const plan = planJobEnd(context, slot);
  console.log(`ok ${plan.context.running}`);
} catch (error) {
  console.log(`threw ${error instanceof Error ? error.message : String(error)}`);
}
