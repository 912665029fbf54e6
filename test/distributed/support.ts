// Redis + PostgreSQL for the distributed tests: where they are, whether they answer, one prefix per
// test (Redis keys `<prefix>:*`, BullMQ queue prefix, PostgreSQL schema), cleaned up afterwards.
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { POSTGRES_URL, adminQuery, createTestSchema, postgresUnavailable } from '../support/postgres.js';

export { POSTGRES_URL };

/** The Redis the tests use: `SPROUT_TEST_REDIS_URL`, else the local one. */
export const REDIS_URL = process.env.SPROUT_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Why the distributed tests cannot run (undefined when Redis and PostgreSQL both answer). */
export async function servicesUnavailable(): Promise<string | undefined> {
  const postgres = await postgresUnavailable();
  if (postgres) return postgres;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 3000 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    const reason = `Redis at ${REDIS_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (process.env.SPROUT_REQUIRE_POSTGRES === '1') throw new Error(`${reason}, and SPROUT_REQUIRE_POSTGRES=1`);
    console.warn(`SKIPPING the distributed tests: ${reason}. Set SPROUT_TEST_REDIS_URL to point them at a server.`);
    return reason;
  } finally {
    redis.disconnect();
  }
}

/** Deletes every Redis key under `<prefix>:` (SCAN + DEL, never FLUSHDB: the server is shared). */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  let deleted = 0;
  try {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (found.length > 0) deleted += await redis.del(...found);
    } while (cursor !== '0');
    return deleted;
  } finally {
    redis.disconnect();
  }
}

/** The Redis keys under `<prefix>:`, sorted. */
export async function listRedisKeys(prefix: string): Promise<string[]> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
  redis.on('error', () => undefined);
  const keys: string[] = [];
  try {
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
    return keys.sort();
  } finally {
    redis.disconnect();
  }
}

/** A deployment of one test: the prefix (schema name too) and its cleanup. */
export interface TestDeployment {
  prefix: string;
  cleanup(): Promise<void>;
}

/** A fresh prefix for one test; `cleanup()` drops its schema and deletes its Redis keys. */
export function createTestDeployment(): TestDeployment {
  const schema = createTestSchema();
  return {
    prefix: schema.name,
    async cleanup() {
      await deleteRedisKeys(schema.name);
      await schema.drop();
    },
  };
}

/** Every stored envelope of a session, in seq order (read straight from the deployment's schema). */
export async function storedEvents(prefix: string, sessionId: string): Promise<SessionEventEnvelope[]> {
  const rows = await adminQuery<{ seq: string; event: AgentEvent }>(
    `SELECT seq, event FROM "${prefix}".events WHERE session_id = $1 ORDER BY seq`,
    [sessionId],
  );
  return rows.map((row) => ({ seq: Number(row.seq), sessionId, event: row.event }));
}

/** Runs left open in the deployment's ledger. */
export async function openRunIds(prefix: string): Promise<string[]> {
  const rows = await adminQuery<{ run_id: string }>(`SELECT run_id FROM "${prefix}".open_runs ORDER BY run_id`);
  return rows.map((row) => row.run_id);
}

type Completed = Extract<AgentEvent, { type: 'sub_session_completed' }>;

/** The completions on a stream. */
export const completionsOf = (envelopes: readonly SessionEventEnvelope[]): Completed[] =>
  envelopes.map((envelope) => envelope.event).filter((event): event is Completed => event.type === 'sub_session_completed');

/**
 * The stream's promises: seq 1…n with no gap, and per run exactly one `sub_session_started` then
 * exactly one `sub_session_completed`, with nothing of the run before its start or after its
 * completion. Returns the problems found (empty when all hold).
 */
export function streamProblems(envelopes: readonly SessionEventEnvelope[]): string[] {
  const problems: string[] = [];
  envelopes.forEach((envelope, i) => {
    if (envelope.seq !== i + 1) problems.push(`seq ${envelope.seq} at position ${i + 1}`);
  });
  const state = new Map<string, 'started' | 'completed'>();
  for (const { seq, event } of envelopes) {
    if (!('run_id' in event)) continue;
    const runId = event.run_id;
    const now = state.get(runId);
    if (event.type === 'sub_session_started') {
      if (now !== undefined) problems.push(`run ${runId}: second sub_session_started at seq ${seq}`);
      state.set(runId, 'started');
    } else if (event.type === 'sub_session_completed') {
      if (now !== 'started') problems.push(`run ${runId}: sub_session_completed at seq ${seq} while ${now ?? 'never started'}`);
      state.set(runId, 'completed');
    } else if (now !== 'started') problems.push(`run ${runId}: ${event.type} at seq ${seq} while ${now ?? 'never started'}`);
  }
  for (const [runId, now] of state) if (now !== 'completed') problems.push(`run ${runId}: never completed`);
  return problems;
}

/** Waits until `predicate` holds, checking every `everyMs` (a condition, not a time budget: the test timeout is the only limit). */
export async function until(predicate: () => boolean | Promise<boolean>, everyMs = 25): Promise<void> {
  while (!(await predicate())) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

/** Waits until BullMQ finished the run's job (however it ended); resolves with its return value (`failed: …` when it failed). */
export async function finishedJob(queue: Queue, runId: string): Promise<unknown> {
  let returned: unknown;
  await until(async () => {
    // The state first, then the job: a job read before it finished carries no return value yet.
    const state = await queue.getJobState(runId);
    if (state !== 'completed' && state !== 'failed') return false;
    const job = await queue.getJob(runId);
    returned = state === 'completed' ? job?.returnvalue : `failed: ${job?.failedReason ?? '?'}`;
    return true;
  }, 50);
  return returned;
}

/**
 * A TCP proxy in front of a service, to take it away from one client and give it back: `cut()`
 * drops every connection and refuses new ones (accepted, then reset) until `restore()`.
 */
export class TcpProxy {
  readonly #target: { host: string; port: number };
  readonly #sockets = new Set<Socket>();
  #server: Server | undefined;
  #cut = false;
  port = 0;

  constructor(targetUrl: string) {
    const url = new URL(targetUrl);
    this.#target = { host: url.hostname, port: Number(url.port) };
  }

  /** Listens on a free loopback port; resolves with the URL to give the client (the target's, with the proxy's port). */
  async listen(targetUrl: string): Promise<string> {
    const server = createServer((client) => {
      if (this.#cut) {
        client.destroy();
        return;
      }
      const upstream = connect(this.#target.port, this.#target.host);
      for (const socket of [client, upstream]) {
        this.#sockets.add(socket);
        socket.on('close', () => this.#sockets.delete(socket));
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.port = (server.address() as AddressInfo).port;
    const url = new URL(targetUrl);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }

  /** Takes the service away: every connection dropped, new ones reset. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Gives the service back. */
  restore(): void {
    this.#cut = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }
}
