import { Redis, type RedisOptions } from 'ioredis';
import { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import type { PostgresConnectionOptions } from '../adapters/postgres/postgres-database.js';
import type { SproutError } from '../errors.js';
import { queueUnavailable } from './errors.js';

/** Where Redis is: a `redis://` / `rediss://` URL, or ioredis options (host, port, password, tls, …). */
export type RedisConnection = string | RedisOptions;

/** Where PostgreSQL is: a `postgres://` URL, or the adapters' connection options (the schema is always the prefix). */
export type PostgresConnection = string | Omit<PostgresConnectionOptions, 'schema' | 'onError'>;

/** Where a Redis target points, for messages (never the password). */
export function describeRedis(connection: RedisConnection): string {
  if (typeof connection === 'string') {
    try {
      const url = new URL(connection);
      return `${url.hostname || 'localhost'}:${url.port || '6379'}`;
    } catch {
      return 'the configured Redis';
    }
  }
  return `${connection.host ?? 'localhost'}:${connection.port ?? 6379}`;
}

/**
 * Opens one ioredis connection. It reconnects by itself (growing delay up to 2 s); its errors go to
 * `onError` as typed errors, never to an unhandled `error` event.
 *
 * - `blocking: true` — commands wait while Redis is away (what BullMQ's worker connections need:
 *   `maxRetriesPerRequest: null`).
 * - otherwise a command fails after a few reconnect attempts, so an API call answers with
 *   `QueueUnavailableError` instead of waiting forever.
 * - `pipelined: true` — ioredis auto-pipelining: the commands issued in one event-loop turn go out
 *   in one socket write (a worker's concurrent runs each send their scripts; a socket write is a
 *   real cost). Only for Sprout's own command connections, never BullMQ's or a subscriber.
 */
export function openRedis(
  connection: RedisConnection,
  role: string,
  onError: (error: SproutError) => void,
  { blocking, pipelined = false }: { blocking: boolean; pipelined?: boolean },
): Redis {
  const options: RedisOptions = {
    maxRetriesPerRequest: blocking ? null : 2,
    retryStrategy: (times) => Math.min(2000, 50 * 2 ** Math.min(times, 6)),
    connectionName: `sprout-${role}`,
    lazyConnect: false,
    enableAutoPipelining: pipelined,
  };
  const redis = typeof connection === 'string' ? new Redis(connection, options) : new Redis({ ...connection, ...options });
  let reported = 0;
  redis.on('error', (error: unknown) => {
    // One report per connection loss, not one per reconnect attempt.
    if (reported++ > 0) return;
    onError(queueUnavailable(error, `the ${role} connection to ${describeRedis(connection)}`));
  });
  redis.on('ready', () => {
    reported = 0;
  });
  return redis;
}

/**
 * Checks once that Redis answers (a connection of its own, no retries), so `start()` fails fast
 * with `QueueUnavailableError` instead of waiting for a server that is not there. (Once started,
 * connections that drop reconnect on their own.)
 */
export async function probeRedis(connection: RedisConnection): Promise<void> {
  const options: RedisOptions = { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 10_000 };
  const redis = typeof connection === 'string' ? new Redis(connection, options) : new Redis({ ...connection, ...options });
  let cause: unknown;
  redis.on('error', (error: unknown) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    // ioredis rejects with "Connection is closed."; the socket's own error says why.
    throw queueUnavailable(cause ?? error, `connecting to ${describeRedis(connection)}`);
  } finally {
    redis.disconnect();
  }
}

/** Closes a connection: politely when it can, at once when Redis is away. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === 'end') return;
  if (redis.status !== 'ready') {
    redis.disconnect();
    return;
  }
  try {
    await redis.quit();
  } catch {
    redis.disconnect();
  }
}

/** Opens the PostgreSQL store and event log of a deployment (schema = prefix), sharing one pool. */
export function openPostgres(
  connection: PostgresConnection,
  schema: string,
  retention: number,
  onError: (error: SproutError) => void,
): { store: PostgresSessionStore; log: PostgresEventLog } {
  const options: PostgresConnectionOptions = typeof connection === 'string' ? { connectionString: connection } : { ...connection };
  const store = new PostgresSessionStore({ ...options, schema, onError });
  // Fenced: with several writers on one schema, nothing of a run is written after its completion
  // (a worker taken for dead that is still running cannot add to a run another worker ended).
  const log = new PostgresEventLog({ database: store.database, retention, onError, fenceRuns: true });
  return { store, log };
}
