// The shipped run-ownership conformance suite on both implementations of the port: the
// in-process one (the scheduler's run ledger) and distributed mode's Redis + PostgreSQL one,
// on a real Redis and a real PostgreSQL schema of its own (removed afterwards).
import { Redis } from 'ioredis';
import * as vitest from 'vitest';
import { PostgresRunFences } from '../../src/adapters/postgres/postgres-run-fences.js';
import { PostgresSessionStore } from '../../src/adapters/postgres/postgres-session-store.js';
import { redisKeys } from '../../src/distributed/keys.js';
import { RedisRunOwnership } from '../../src/distributed/redis-run-ownership.js';
import { RedisScripts } from '../../src/distributed/redis-scripts.js';
import { InProcessRunOwnership } from '../../src/scheduler/in-process-run-ownership.js';
import { RunLedger } from '../../src/scheduler/run-ledger.js';
import { describeRunOwnershipConformance } from '../../src/testing/index.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, listRedisKeys, servicesUnavailable } from '../distributed/support.js';

const { afterAll, beforeAll, describe, expect } = vitest;

describeRunOwnershipConformance(
  'InProcessRunOwnership',
  () => ({ ownership: new InProcessRunOwnership(new RunLedger({ now: Date.now })) }),
  vitest,
);

const unavailable = await servicesUnavailable();

describe.skipIf(unavailable !== undefined)('Redis + PostgreSQL', () => {
  const deployment = createTestDeployment();
  const keys = redisKeys(deployment.prefix);
  let redis: Redis;
  let store: PostgresSessionStore;

  beforeAll(async () => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 3 });
    store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: deployment.prefix });
    await store.database.ready();
  });

  afterAll(async () => {
    redis.disconnect();
    await store.close();
    await deployment.cleanup();
    expect(await listRedisKeys(deployment.prefix)).toEqual([]);
  });

  describeRunOwnershipConformance(
    'RedisRunOwnership',
    () => ({
      ownership: new RedisRunOwnership({
        redis,
        scripts: new RedisScripts(redis, keys),
        keys,
        fences: new PostgresRunFences(store.database),
        leaseMs: 30_000,
      }),
      // A dead owner's claim: its key expired.
      expire: async (runId) => {
        await redis.del(keys.owner(runId));
      },
    }),
    vitest,
  );
});
