// Agent trees on workers: a message to a root through the distributed front door runs the root's
// agent on a worker; the agent spawns children through `request.spawner` (the deployment's queue)
// and waits for them, giving its slot back, so a worker with concurrency 1 still finishes the
// tree. The root's own stream carries its tokens and one terminal `complete`; the children are
// announced and completed once each on it. Real Redis and PostgreSQL; waits on conditions.
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { SessionBusyError } from '../../src/errors.js';
import { serveDemoAgent } from '../../src/server/serve-agent.js';
import { systemClock } from '../../src/clock.js';
import { rootSession } from '../support/harness.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  completionsOf,
  createTestDeployment,
  openRunIds,
  servicesUnavailable,
  storedEvents,
  streamProblems,
  until,
} from './support.js';
import { trackOpened } from './opened.js';

const unavailable = await servicesUnavailable();

const opened = trackOpened();

/** A root that spawns `n` children and answers with their statuses; children answer at once. */
function treeAgent(n: number): AgentRuntime {
  return {
    async execute(session, request) {
      const last = session.messages.filter((m) => m.role === 'user').at(-1)?.content ?? '';
      if (session.kind === 'root') {
        request.emit({ type: 'token', content: 'planning ' });
        for (let i = 1; i <= n; i++) await request.spawner!.spawnChild(session.id, { title: `part ${i}`, prompt: `${last} #${i}` });
        const ended = await request.spawner!.waitForChildren(session.id);
        const answer = `children: ${ended.map((e) => e.status).join(',')}`;
        request.emit({ type: 'token', content: answer });
        session.messages.push({
          id: `${session.id}-answer-${session.messages.length}`,
          role: 'assistant',
          content: answer,
          created_at: new Date().toISOString(),
        });
        return;
      }
      request.emit({ type: 'token', content: `working on ${session.title}` });
      session.messages.push({
        id: `${session.id}-a`,
        role: 'assistant',
        content: `done ${session.title}`,
        created_at: new Date().toISOString(),
      });
    },
  };
}

function follow(front: DistributedScheduler, sessionId: string): SessionEventEnvelope[] {
  const seen: SessionEventEnvelope[] = [];
  front.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => seen.push(envelope));
  return seen;
}

const terminals = (envelopes: readonly SessionEventEnvelope[]) =>
  envelopes.map((e) => e.event.type).filter((type) => type === 'complete' || type === 'error');

describe.skipIf(unavailable !== undefined)('agent trees on workers', () => {
  it('a root run on a worker with concurrency 1 spawns children, waits for them, and ends once', async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    const worker = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, agent: treeAgent(3), concurrency: 1, name: 'w1' });
    opened.workers.push(worker);
    await worker.start();
    await front.store.save(rootSession('root'));
    const rootStream = follow(front, 'root');

    const { runId } = await front.run('root', { message: 'Compare vendors' });
    await expect(front.run('root', { message: 'again' })).rejects.toBeInstanceOf(SessionBusyError);
    await until(() => terminals(rootStream).length === 1, 50);

    expect(terminals(rootStream)).toEqual(['complete']);
    const root = await front.store.load('root');
    expect(root?.metadata).toMatchObject({ last_run_status: 'completed', last_run_id: runId });
    expect(root?.messages.at(-1)?.content).toBe('children: completed,completed,completed');
    const stored = await storedEvents(prefix, 'root');
    expect(streamProblems(stored)).toEqual([]);
    expect(completionsOf(stored).map((c) => c.status)).toEqual(['completed', 'completed', 'completed']);
    expect(stored.some(({ event }) => event.type === 'token' && event.content === 'planning ')).toBe(true);
    await until(async () => (await openRunIds(prefix)).length === 0, 50);

    // The session can run again once the first run ended.
    await front.run('root', { message: 'One more time' });
    await until(() => terminals(rootStream).length === 2, 50);
  });

  it("sprout serve's scripted default grows its three-child tree on workers (one fails, one is stopped)", async () => {
    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000 });
    opened.fronts.push(front);
    await front.start();
    for (const name of ['w1', 'w2']) {
      const worker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix,
        agent: serveDemoAgent(systemClock, { speed: 0.05 }),
        concurrency: 2,
        name,
      });
      opened.workers.push(worker);
      await worker.start();
    }
    await front.store.save(rootSession('root'));
    const rootStream = follow(front, 'root');
    await front.run('root', { message: 'Compare vendors' });
    await until(() => completionsOf(rootStream).length === 2, 50);
    const children = await front.store.listChildren('root');
    const deep = children.find((child) => child.title === 'Deep dive')!;
    expect(await front.cancel(deep.id)).toBe(true);
    await until(() => terminals(rootStream).length === 1, 50);
    expect(terminals(rootStream)).toEqual(['complete']);
    expect((await front.store.load('root'))?.messages.at(-1)?.content).toBe(
      '1 of 3 tasks finished (Survey sources: completed; Check the numbers: error; Deep dive: cancelled).',
    );
  });
});
