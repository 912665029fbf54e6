// The HTTP server as the distributed front door behaves like the embedded server (issue 19, item 5):
// a bounded queue answers 429, a service that is away answers 503 (and /v1/health says which), no
// error carries connection details, and a tree delete is atomic against concurrent spawns. Real
// Redis, real PostgreSQL, a real HTTP server on loopback.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createDistributedScheduler,
  type DistributedScheduler,
  type DistributedSchedulerOptions,
} from '../../src/distributed/distributed-scheduler.js';
import { QueueFullError } from '../../src/distributed/errors.js';
import { RUN_QUEUE_NAME } from '../../src/distributed/keys.js';
import { createWorker, type DistributedWorker } from '../../src/distributed/worker.js';
import { StoreUnavailableError, SproutValidationError } from '../../src/errors.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer, type ListeningSproutServer } from '../../src/server/listen-sprout-server.js';
import { toProblem } from '../../src/server/to-problem.js';
import { adminQuery } from '../support/postgres.js';
import { api, createRoot } from '../server/support/test-server.js';
import { createProbe } from './probe-agent.js';
import {
  POSTGRES_URL,
  REDIS_URL,
  TcpProxy,
  createTestDeployment,
  listRedisKeys,
  servicesUnavailable,
  until,
  type TestDeployment,
} from './support.js';

const unavailable = await servicesUnavailable();

const opened = {
  deployments: [] as TestDeployment[],
  fronts: [] as DistributedScheduler[],
  workers: [] as DistributedWorker[],
  servers: [] as ListeningSproutServer[],
  proxies: [] as TcpProxy[],
  closers: [] as (() => Promise<unknown>)[],
};

afterEach(async () => {
  for (const proxy of opened.proxies) proxy.restore();
  for (const server of opened.servers.splice(0)) await server.close();
  for (const worker of opened.workers.splice(0)) await worker.stop({ mode: 'cancel' });
  for (const front of opened.fronts.splice(0)) await front.stop();
  for (const close of opened.closers.splice(0)) await close();
  for (const proxy of opened.proxies.splice(0)) await proxy.close();
  for (const deployment of opened.deployments.splice(0)) await deployment.cleanup();
});

function deployment(): string {
  const made = createTestDeployment();
  opened.deployments.push(made);
  return made.prefix;
}

async function proxy(target: string): Promise<{ proxy: TcpProxy; url: string }> {
  const made = new TcpProxy(target);
  opened.proxies.push(made);
  return { proxy: made, url: await made.listen(target) };
}

/** A started front door and an HTTP server over it on 127.0.0.1 (what `sprout serve --redis --postgres` builds). */
async function frontDoorServer(
  prefix: string,
  extra: Partial<DistributedSchedulerOptions> = {},
): Promise<{ front: DistributedScheduler; url: string; logged: unknown[] }> {
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, ...extra });
  opened.fronts.push(front);
  await front.start();
  const logged: unknown[] = [];
  const server = createSproutServer({ scheduler: front, store: front.store, onError: (error) => logged.push(error) });
  const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 0 });
  opened.servers.push(listening);
  return { front, url: listening.url, logged };
}

function worker(prefix: string, agent: ReturnType<ReturnType<typeof createProbe>['agent']>): DistributedWorker {
  const made = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, agent, concurrency: 8, heartbeatIntervalMs: 100 });
  opened.workers.push(made);
  return made;
}

/** A BullMQ queue handle on the deployment's run queue (for the tests' own look at it). */
function runQueue(prefix: string): Queue {
  const queue = new Queue(RUN_QUEUE_NAME, { connection: new Redis(REDIS_URL, { maxRetriesPerRequest: null }), prefix });
  opened.closers.push(() => queue.close());
  return queue;
}

const spawn = (url: string, parent: string, title: string) =>
  api<{ code?: string; childSessionId?: string; detail?: string }>(`${url}/v1/sessions/${parent}/children`, {
    body: { title, prompt: `Do ${title}` },
  });

describe.skipIf(unavailable !== undefined)('the HTTP front door behaves like the embedded server', () => {
  it('answers 429 QUEUE_FULL with Retry-After once queueCapacity runs wait for a worker, across front doors, and has room again once a worker starts them', async () => {
    const prefix = deployment();
    const { front, url } = await frontDoorServer(prefix, { queueCapacity: 3 });
    const root = await createRoot(url);
    for (const title of ['one', 'two', 'three']) expect((await spawn(url, root, title)).status).toBe(202);

    const refused = await spawn(url, root, 'four');
    expect(refused.status).toBe(429);
    expect(refused.body.code).toBe('QUEUE_FULL');
    expect(refused.headers.get('retry-after')).toBe('1');
    // Nothing of the refused spawn is kept.
    expect((await front.store.listChildren(root)).map((child) => child.title).sort()).toEqual(['one', 'three', 'two']);

    // The bound is the deployment's, not one front door's.
    const other = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, queueCapacity: 3 });
    opened.fronts.push(other);
    await other.start();
    await expect(other.spawnChild(root, { title: 'five', prompt: 'Do five' })).rejects.toBeInstanceOf(QueueFullError);

    // A worker takes the three (its agents wait at the gate): they no longer count as queued.
    const probe = createProbe();
    probe.close();
    await worker(prefix, probe.agent('w1')).start();
    await until(() => probe.calls.length === 3);
    expect((await spawn(url, root, 'six')).status).toBe(202);
    probe.open();
  });

  it('answers 503 with Retry-After while Redis or PostgreSQL is away, and /v1/health says which (no connection detail anywhere)', async () => {
    const prefix = deployment();
    const { proxy: redisProxy, url: redisUrl } = await proxy(REDIS_URL);
    const { proxy: pgProxy, url: pgUrl } = await proxy(POSTGRES_URL);
    const front = createDistributedScheduler({ redis: redisUrl, postgres: pgUrl, prefix, queueCapacity: 100 });
    opened.fronts.push(front);
    await front.start();
    const logged: unknown[] = [];
    const listening = await listenSproutServer(
      createSproutServer({ scheduler: front, store: front.store, onError: (e) => logged.push(e) }),
      {
        host: '127.0.0.1',
        port: 0,
      },
    );
    opened.servers.push(listening);
    const { url } = listening;
    const leaks = (text: string): boolean =>
      [String(redisProxy.port), String(pgProxy.port), prefix, '127.0.0.1', 'postgres://', 'schema'].some((needle) => text.includes(needle));
    const health = () => api<{ ok: boolean; status: string; checks: Record<string, { status: string }> }>(`${url}/v1/health`);

    const healthy = await health();
    expect(healthy.status).toBe(200);
    expect(healthy.body).toMatchObject({ ok: true, status: 'ok', checks: { redis: { status: 'up' }, postgres: { status: 'up' } } });
    const root = await createRoot(url);

    redisProxy.cut();
    const noRedis = await spawn(url, root, 'while Redis is away');
    expect(noRedis.status).toBe(503);
    expect(noRedis.body.code).toBe('QUEUE_UNAVAILABLE');
    expect(noRedis.headers.get('retry-after')).toBe('5');
    expect(leaks(JSON.stringify(noRedis.body))).toBe(false);
    const redisDown = await health();
    expect(redisDown.status).toBe(503);
    expect(redisDown.headers.get('retry-after')).toBe('5');
    expect(redisDown.body).toMatchObject({
      ok: false,
      status: 'unavailable',
      checks: { redis: { status: 'down' }, postgres: { status: 'up' } },
    });
    redisProxy.restore();
    await until(async () => (await health()).status === 200, 100);

    pgProxy.cut();
    const noPostgres = await api<{ code: string }>(`${url}/v1/sessions/${root}`);
    expect(noPostgres.status).toBe(503);
    expect(noPostgres.body.code).toBe('STORE_UNAVAILABLE');
    expect(noPostgres.headers.get('retry-after')).toBe('5');
    expect(leaks(JSON.stringify(noPostgres.body))).toBe(false);
    const pgDown = await health();
    expect(pgDown.status).toBe(503);
    expect(pgDown.body.checks).toEqual({ redis: { status: 'up' }, postgres: { status: 'down', code: 'STORE_UNAVAILABLE' } });
    expect(leaks(JSON.stringify(pgDown.body))).toBe(false);
    pgProxy.restore();
    await until(async () => (await health()).status === 200, 100);
    expect((await spawn(url, root, 'after the outages')).status).toBe(202);
    // The operator still gets the real errors.
    expect(logged.length).toBeGreaterThanOrEqual(2);
  });

  it('refuses a lone surrogate with 400 INVALID_UNICODE (it gave a 500 naming the PostgreSQL host, database and schema)', async () => {
    const prefix = deployment();
    const { front, url } = await frontDoorServer(prefix);
    const root = await createRoot(url);
    for (const [path, body] of [
      ['/v1/sessions', '{"title":"bad \\ud800 title"}'],
      [`/v1/sessions/${root}/children`, '{"title":"\\udc00","prompt":"Do it"}'],
    ] as const) {
      const refused = await api<{ code: string; detail: string }>(`${url}${path}`, { body });
      expect(refused.status).toBe(400);
      expect(refused.body.code).toBe('INVALID_UNICODE');
      expect(refused.body.detail).not.toMatch(new RegExp(`${prefix}|127\\.0\\.0\\.1|postgres`, 'i'));
    }
    // The library refuses it too, before writing anything.
    await expect(front.spawnChild(root, { title: 'x\ud800', prompt: 'p' })).rejects.toBeInstanceOf(SproutValidationError);
    expect(await front.store.listChildren(root)).toEqual([]);

    // Whatever else a driver refuses reaches the client as a code and a fixed sentence, never the driver's message.
    const dataFault = new StoreUnavailableError(`PostgreSQL at 127.0.0.1:5432/postgres (schema ${prefix}): saving failed: invalid input`, {
      cause: Object.assign(new Error('invalid input syntax for type json'), { code: '22P02' }),
    });
    const problem = toProblem(dataFault);
    expect(problem.status).toBe(500);
    expect(problem.message).toBe('internal server error');
  });

  it('a tree delete is atomic against concurrent spawns: every spawn racing it is refused or deleted, and nothing of the tree runs (279 orphans, 65 ran)', async () => {
    const prefix = deployment();
    const { front, url } = await frontDoorServer(prefix);
    const root = await createRoot(url);
    const children: string[] = [];
    for (let i = 0; i < 4; i++) children.push((await spawn(url, root, `child ${i}`)).body.childSessionId!);
    const grandchild = (await spawn(url, children[0]!, 'grandchild')).body.childSessionId!;
    const parents = [root, ...children, grandchild];

    // No worker yet: whatever gets into the queue stays there, so "did it run" is decided afterwards.
    const racing: Promise<{ status: number }>[] = [];
    for (let i = 0; i < 120; i++) racing.push(spawn(url, parents[i % parents.length]!, `racer ${i}`));
    const deleted = api(`${url}/api/v1/sessions/${root}`, { method: 'DELETE' });
    for (let i = 120; i < 240; i++) racing.push(spawn(url, parents[i % parents.length]!, `racer ${i}`));
    expect((await deleted).status).toBe(200);
    const answers = await Promise.all(racing);
    expect(new Set(answers.map((answer) => answer.status))).toSatisfy((statuses: Set<number>) =>
      [...statuses].every((status) => status === 202 || status === 404),
    );
    // Spawns that had not loaded their parent before the delete are 404 now.
    expect((await spawn(url, root, 'late')).status).toBe(404);

    const left = await adminQuery<{ id: string }>(`SELECT id FROM "${prefix}".sessions WHERE root_session_id = $1`, [root]);
    expect(left).toEqual([]);
    expect(await listRedisKeys(`${prefix}:sprout:live`)).toEqual([]);

    // A worker now finds nothing of the tree to run.
    const probe = createProbe();
    await worker(prefix, probe.agent('w1')).start();
    const queue = runQueue(prefix);
    await until(async () => {
      const counts = await queue.getJobCounts('waiting', 'delayed', 'active', 'prioritized');
      return Object.values(counts).every((count) => count === 0);
    }, 50);
    expect(probe.calls).toEqual([]);
    expect(await adminQuery(`SELECT id FROM "${prefix}".sessions WHERE root_session_id = $1`, [root])).toEqual([]);
    expect(await front.store.load(root)).toBeUndefined();
  });
  it('POST /v1/sessions/{id}/messages runs a session on the workers: 202, 409 while busy, 404 unknown, 400 bad body', async () => {
    const prefix = deployment();
    const { url } = await frontDoorServer(prefix);
    const root = await createRoot(url);
    const message = (id: string, body: unknown) => api<{ code?: string; runId?: string }>(`${url}/v1/sessions/${id}/messages`, { body });
    const first = await message(root, { message: 'Plan it' });
    expect(first.status).toBe(202);
    expect(typeof first.body.runId).toBe('string');
    // No worker runs it yet: the session is busy.
    const busy = await message(root, { message: 'again' });
    expect([busy.status, busy.body.code]).toEqual([409, 'SESSION_BUSY']);
    const unknown = await message('no-such-session', { message: 'hi' });
    expect([unknown.status, unknown.body.code]).toEqual([404, 'SESSION_NOT_FOUND']);
    expect([400, 422]).toContain((await message(root, { message: '' })).status);
    expect([400, 422]).toContain((await message(root, { message: 'x', extra: 1 })).status);
  });

  it('bad input is a 4xx, never a store outage: U+0000 in a run query, a body nested thousands of levels deep', async () => {
    const prefix = deployment();
    const { url } = await frontDoorServer(prefix);
    for (const query of ['q=%00', 'model=%00', 'reason=a%00', 'child=%00']) {
      const answer = await api<{ code?: string }>(`${url}/v1/runs?${query}`);
      expect([answer.status, answer.body.code], query).toEqual([400, 'INVALID_QUERY']);
    }
    const cursor = Buffer.from(JSON.stringify({ o: 'created', k: ['\u0000', 'x'] })).toString('base64url');
    expect((await api(`${url}/v1/sessions?cursor=${cursor}`)).status).toBe(400);
    const bulk = await api<{ code?: string }>(`${url}/v1/runs/bulk`, { body: { action: 'cancel', runIds: ['\u0000'] } });
    expect(bulk.status).toBe(422);
    expect((await api(`${url}/v1/runs/bulk`, { body: { action: 'cancel', filter: { q: '\u0000' } } })).status).toBe(422);
    const deep = `{"title":"a","x":${'{"a":'.repeat(4000)}1${'}'.repeat(4000)}}`;
    const nested = await fetch(`${url}/v1/sessions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
    expect(nested.status).toBe(400);
    expect(((await nested.json()) as { code?: string }).code).toBe('BAD_JSON');
    expect((await api(`${url}/v1/health`)).status).toBe(200);
  });

  it('DELETE /v1/sessions/{id} counts every session of the tree it deleted', async () => {
    const prefix = deployment();
    const { url } = await frontDoorServer(prefix);
    const root = await createRoot(url);
    const first = (await spawn(url, root, 'one')).body.childSessionId!;
    await spawn(url, root, 'two');
    await spawn(url, first, 'grandchild');
    const deleted = await api<{ deleted?: number }>(`${url}/v1/sessions/${root}`, { method: 'DELETE' });
    expect([deleted.status, deleted.body.deleted]).toEqual([200, 4]);
    expect((await api(`${url}/v1/sessions/${first}`)).status).toBe(404);
  });

  it('a message or a chat refused with 429 keeps nothing: no message, no pending run, no new root', async () => {
    const prefix = deployment();
    const { front, url } = await frontDoorServer(prefix, { queueCapacity: 1 });
    const root = await createRoot(url);
    const other = await createRoot(url);
    expect((await spawn(url, root, 'fills the queue')).status).toBe(202);
    const before = await front.store.load(other);

    const refused = await api<{ code?: string }>(`${url}/v1/sessions/${other}/messages`, { body: { message: 'later' } });
    expect([refused.status, refused.body.code, refused.headers.get('retry-after')]).toEqual([429, 'QUEUE_FULL', '1']);
    const after = await front.store.load(other);
    expect(after?.messages).toEqual(before?.messages);
    expect(after?.metadata).toEqual(before?.metadata);
    expect((await api<{ status?: string }>(`${url}/v1/sessions/${other}/status`)).body.status).not.toBe('queued');

    const roots = async () => (await front.store.listSummaries({ kind: 'root', limit: 100 })).items.length;
    const rootsBefore = await roots();
    const chat = await api<{ code?: string }>(`${url}/api/v1/chat`, { body: { message: 'hello' } });
    expect(chat.status).toBe(429);
    expect(await roots()).toBe(rootsBefore);
  });
});
