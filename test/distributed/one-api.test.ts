// One SpawnScheduler API, two deployments: the embedded scheduler and the distributed front door
// are `createSchedulerApi` over two deployments (src/core/scheduler-api.ts), so the same calls
// take the same options and refuse the same bad input with the same typed errors. The front door
// runs its runs on an in-process worker. Real Redis and PostgreSQL; waits on conditions.
import { afterEach, describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { SpawnSchedulerApi } from '../../src/api/spawn-scheduler.js';
import type { SessionStore } from '../../src/api/ports.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { SproutValidationError } from '../../src/errors.js';
import { childSession, rootSession } from '../support/harness.js';
import { createProbe } from './probe-agent.js';
import { trackOpened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, until } from './support.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});
/** What each deployment answered to each bad call: `subject → message`, compared across deployments at the end. */
const answers = new Map<string, Map<string, string>>();

/** A deployment under test: its API, its store, and its events as they arrive. */
interface Subject {
  api: SpawnSchedulerApi;
  store: SessionStore;
  seen(sessionId: string): SessionEventEnvelope[];
}

/** Subscribes to the sessions' streams and keeps what arrives. */
function recorder(api: SpawnSchedulerApi, sessionIds: readonly string[]): (sessionId: string) => SessionEventEnvelope[] {
  const seen = new Map<string, SessionEventEnvelope[]>();
  for (const id of sessionIds) {
    const list: SessionEventEnvelope[] = [];
    seen.set(id, list);
    api.events(id, { afterSeq: 0 }).subscribe({ next: (envelope) => list.push(envelope), error: () => undefined });
  }
  return (id) => seen.get(id) ?? [];
}

const SEED = [rootSession('root'), childSession('c1', 'root'), childSession('c2', 'root')];

async function embedded(): Promise<Subject> {
  const store = new MemorySessionStore();
  for (const session of SEED) await store.save(session);
  const probe = createProbe();
  const scheduler = createSpawnScheduler({ store, agent: probe.agent('embedded') });
  await scheduler.start();
  closers.push(() => scheduler.stop({ mode: 'cancel' }));
  return { api: scheduler, store, seen: recorder(scheduler, ['root', 'c1', 'c2']) };
}

async function distributed(): Promise<Subject> {
  const deployment = createTestDeployment();
  opened.deployments.push(deployment);
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix: deployment.prefix });
  opened.fronts.push(front);
  await front.start();
  for (const session of SEED) await front.store.save(session);
  const probe = createProbe();
  const worker = createWorker({
    redis: REDIS_URL,
    postgres: POSTGRES_URL,
    prefix: deployment.prefix,
    agent: probe.agent('w1'),
    concurrency: 2,
    name: 'w1',
  });
  opened.workers.push(worker);
  await worker.start();
  return { api: front, store: front.store, seen: recorder(front, ['root', 'c1', 'c2']) };
}

const kinds = { embedded, distributed } as const;

describe.skipIf(unavailable !== undefined)('one SpawnScheduler API on both deployments', () => {
  for (const [name, make] of Object.entries(kinds)) {
    describe(name, () => {
      it('enqueue takes a run id and a title, and runs a root as it is with root: true', async () => {
        const s = await make();
        const result = await s.api.enqueue(
          { parentSessionId: 'root', childSessionId: 'c1', model: 'm' },
          { runId: 'run-given', title: 'Given' },
        );
        expect(result).toEqual({ runId: 'run-given' });
        await until(() => s.seen('root').some(({ event }) => event.type === 'sub_session_completed'));
        const started = s.seen('root').find(({ event }) => event.type === 'sub_session_started')?.event;
        expect(started).toMatchObject({ run_id: 'run-given', title: 'Given' });
        expect(s.seen('root').find(({ event }) => event.type === 'sub_session_completed')?.event).toMatchObject({
          run_id: 'run-given',
          status: 'completed',
        });

        const root = await s.api.enqueue({ parentSessionId: '', childSessionId: 'root', model: 'm' }, { runId: 'root-run', root: true });
        expect(root).toEqual({ runId: 'root-run' });
        await until(async () => (await s.store.load('root'))?.metadata.last_run_id === 'root-run');
        await until(async () => (await s.store.load('root'))?.metadata.last_run_status === 'completed');
        await until(() => s.seen('root').some(({ event }) => event.type === 'complete'));
        expect(s.seen('root').filter(({ event }) => event.type === 'complete' || event.type === 'error')).toHaveLength(1);
      });

      it('refuses the same bad input with the same typed errors, and writes nothing', async () => {
        const s = await make();
        const job = { parentSessionId: 'root', childSessionId: 'c2', model: 'm' };
        const refusals: [string, () => Promise<unknown>][] = [
          ['enqueue: empty run id', () => s.api.enqueue(job, { runId: '' })],
          ['enqueue: unknown option', () => s.api.enqueue(job, { extra: 1 } as never)],
          ['enqueue: root run of a child', () => s.api.enqueue({ ...job, parentSessionId: '' }, { root: true })],
          [
            'enqueue: ancestors that do not start at the parent',
            () => s.api.enqueue(job, { ancestors: [{ sessionId: 'elsewhere', parentSessionId: 'x', runId: 'r' }] }),
          ],
          ['enqueue: a lone surrogate in the title', () => s.api.enqueue(job, { title: 'bad \ud800' })],
          ['spawnChild: a lone surrogate in the prompt', () => s.api.spawnChild('root', { title: 'ok', prompt: 'bad \udc00' })],
          ['spawnChild: empty parent id', () => s.api.spawnChild('', { title: 'ok', prompt: 'p' })],
          ['run: a lone surrogate in the message', () => s.api.run('c2', { message: 'bad \ud800' })],
          ['run: unknown field', () => s.api.run('c2', { message: 'hi', extra: 1 } as never)],
          ['cancel: unknown reason', () => s.api.cancel('c2', 'because' as never)],
          ['cancelTree: empty id', () => s.api.cancelTree('')],
          ['deleteSession: empty id', () => s.api.deleteSession('')],
          ['getChild: empty id', () => s.api.getChild('')],
          ['waitForChildren: unknown policy', () => s.api.waitForChildren('root', { policy: 'most' as never })],
        ];
        const mine = new Map<string, string>();
        answers.set(name, mine);
        for (const [what, call] of refusals) {
          const error = await call().then(
            () => undefined,
            (caught: unknown) => caught,
          );
          expect(error, what).toBeInstanceOf(SproutValidationError);
          expect((error as SproutValidationError).code, what).toBe('VALIDATION_FAILED');
          mine.set(what, (error as SproutValidationError).message);
        }
        expect(() => s.api.events('', {})).toThrow(SproutValidationError);
        // Nothing was written: no child under root besides the seed, c2 never ran.
        expect((await s.store.listChildren('root')).map((c) => c.id).sort()).toEqual(['c1', 'c2']);
        expect((await s.store.load('c2'))?.messages).toEqual(SEED[2]!.messages);
        expect(s.seen('root').filter(({ event }) => event.type === 'sub_session_started')).toEqual([]);
      });
    });
  }

  it('the two deployments answer each bad call with the same error', () => {
    const [first, second] = [answers.get('embedded'), answers.get('distributed')];
    expect(first?.size).toBeGreaterThan(0);
    expect(Object.fromEntries(second ?? [])).toEqual(Object.fromEntries(first ?? []));
  });
});
