// A parent's end reaches its subtree on workers, as in embedded mode: a root whose run fails
// cancels its running child (reason `parent`), leaves a child spawned with `onParentEnd:
// 'abandon'` running, and a child spawned under it afterwards ends `cancelled` without running;
// once the root is asked to run again, its new children run. Real Redis and PostgreSQL.
import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { POSTGRES_URL, REDIS_URL, completionsOf, createTestDeployment, servicesUnavailable, storedEvents, until } from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

describe.skipIf(unavailable !== undefined)('a parent’s end on workers', () => {
  it('a failed root cancels its child (reason parent), spares an abandoning child, halts late spawns until it runs again', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix });
    opened.fronts.push(front);
    await front.start();

    const started = new Set<string>();
    let releaseKeeper!: () => void;
    const keeperGate = new Promise<void>((resolve) => (releaseKeeper = resolve));
    const agent: AgentRuntime = {
      async execute(session, request) {
        started.add(session.title);
        const answer = (content: string): void => {
          session.messages.push({
            id: `${session.id}-${session.messages.length}`,
            role: 'assistant',
            content,
            created_at: new Date().toISOString(),
          });
        };
        const last = session.messages.filter((m) => m.role === 'user').at(-1)?.content;
        if (session.kind === 'root' && last === 'fail') {
          await request.spawner!.spawnChild(session.id, { title: 'hanger', prompt: 'wait' });
          await request.spawner!.spawnChild(session.id, { title: 'keeper', prompt: 'wait', onParentEnd: 'abandon' });
          while (!(started.has('hanger') && started.has('keeper'))) await new Promise((resolve) => setTimeout(resolve, 10));
          throw new Error('the root failed');
        }
        if (session.kind === 'root') {
          await request.spawner!.spawnChild(session.id, { title: 'fresh', prompt: 'go' });
          const [fresh] = await request.spawner!.waitForChildren(session.id);
          answer(`fresh: ${fresh?.status}`);
          return;
        }
        if (session.title === 'hanger') {
          await new Promise<void>((_, reject) =>
            request.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
          );
        }
        if (session.title === 'keeper') await keeperGate;
        answer(`done ${session.title}`);
      },
    };
    // The root runs on w1 (one slot, which it keeps: it does not wait), so its children run on w2:
    // the root's end must reach them across workers.
    const w1 = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, agent, concurrency: 1, name: 'w1' });
    opened.workers.push(w1);
    await w1.start();
    await front.store.save(rootSession('root'));
    await front.run('root', { message: 'fail' });
    await until(() => started.has('Root root'));
    const w2 = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, agent, concurrency: 4, name: 'w2' });
    opened.workers.push(w2);
    await w2.start();
    const completionOf = async (title: string) => {
      const children = await front.store.listChildren('root');
      const child = children.find((c) => c.title === title);
      return child === undefined
        ? undefined
        : completionsOf(await storedEvents(prefix, 'root')).find((c) => c.child_session_id === child.id);
    };
    await until(async () => (await completionOf('hanger')) !== undefined, 50);
    expect(await completionOf('hanger')).toMatchObject({ status: 'cancelled', reason: 'parent' });
    const rootEnd = (await storedEvents(prefix, 'root')).filter(({ event }) => event.type === 'error' || event.type === 'complete');
    expect(rootEnd.map(({ event }) => event.type)).toEqual(['error']);

    // Spawned under the failed root: cancelled without running.
    const late = await front.spawnChild('root', { title: 'late', prompt: 'go' });
    await until(async () => (await completionOf('late')) !== undefined, 50);
    expect(await completionOf('late')).toMatchObject({ run_id: late.runId, status: 'cancelled', reason: 'parent' });
    expect(started.has('late')).toBe(false);

    // The abandoning child was left running; it answers.
    expect(await completionOf('keeper')).toBeUndefined();
    releaseKeeper();
    await until(async () => (await completionOf('keeper')) !== undefined, 50);
    expect(await completionOf('keeper')).toMatchObject({ status: 'completed' });

    // Asked to run again, the root is no longer halted: its new child runs.
    await front.run('root', { message: 'again' });
    await until(async () => (await front.store.load('root'))?.metadata.last_run_status === 'completed', 50);
    expect(await completionOf('fresh')).toMatchObject({ status: 'completed' });
    expect(started.has('fresh')).toBe(true);
  });
});
