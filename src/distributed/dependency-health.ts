import type { Redis } from 'ioredis';
import type { PostgresDatabase } from '../adapters/postgres/postgres-database.js';

/** One service the front door depends on, as a health check saw it: `up`, or `down` with the error's code (never its message). */
export interface DependencyCheck {
  status: 'up' | 'down';
  /** Why it is down: a stable code (`QUEUE_UNAVAILABLE`, `STORE_UNAVAILABLE`, `TIMEOUT`). */
  code?: string;
}

/** The front door's dependencies, checked once. */
export interface DependencyChecks {
  redis: DependencyCheck;
  postgres: DependencyCheck;
}

/** How long one check may take before the service counts as down. */
const CHECK_TIMEOUT_MS = 2000;

/** Resolves `up` when `probe` answers within the timeout, else `down` with a code. */
async function check(probe: () => Promise<unknown>, code: string): Promise<DependencyCheck> {
  let timeout: NodeJS.Timeout | undefined;
  const late = new Promise<DependencyCheck>((resolve) => {
    timeout = setTimeout(() => resolve({ status: 'down', code: 'TIMEOUT' }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([probe().then((): DependencyCheck => ({ status: 'up' })), late]);
  } catch {
    return { status: 'down', code };
  } finally {
    clearTimeout(timeout);
  }
}

/**
 * Pings Redis and PostgreSQL at once (each on the front door's own connections, at most two
 * seconds each). A service that is away reads `down`; this never rejects.
 *
 * @example
 * const { redis, postgres } = await checkDependencies(redisConnection, store.database);
 */
export async function checkDependencies(redis: Redis | undefined, database: PostgresDatabase): Promise<DependencyChecks> {
  const [redisCheck, postgresCheck] = await Promise.all([
    redis === undefined
      ? Promise.resolve<DependencyCheck>({ status: 'down', code: 'SCHEDULER_STOPPED' })
      : check(() => redis.ping(), 'QUEUE_UNAVAILABLE'),
    check(() => database.ping(), 'STORE_UNAVAILABLE'),
  ]);
  return { redis: redisCheck, postgres: postgresCheck };
}
