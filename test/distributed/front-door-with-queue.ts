// A test deployment with its front door started, plus the connections a test reads Redis and the
// run queue with; registered in the file's `trackOpened()` lists, the connections closed by `close()`.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import {
  createDistributedScheduler,
  type DistributedScheduler,
  type DistributedSchedulerOptions,
} from '../../src/distributed/distributed-scheduler.js';
import { RUN_QUEUE_NAME } from '../../src/distributed/keys.js';
import type { Opened } from './opened.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment } from './support.js';

/** What {@link openFrontDoorWithQueue} opened. */
export interface FrontDoorWithQueue {
  prefix: string;
  front: DistributedScheduler;
  redis: Redis;
  queue: Queue;
  close(): Promise<void>;
}

/**
 * A fresh deployment (its schema and keys removed by `opened`'s cleanup), its front door started
 * (with `options` over the defaults), a Redis client and the run queue.
 */
export async function openFrontDoorWithQueue(
  opened: Opened,
  options: Partial<Pick<DistributedSchedulerOptions, 'maxDepth'>> = {},
): Promise<FrontDoorWithQueue> {
  const made = createTestDeployment();
  opened.deployments.push(made);
  const { prefix } = made;
  const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, eventRetention: 100_000, ...options });
  opened.fronts.push(front);
  await front.start();
  const redis = new Redis(REDIS_URL);
  redis.on('error', () => undefined);
  const queueRedis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  queueRedis.on('error', () => undefined);
  const queue = new Queue(RUN_QUEUE_NAME, { connection: queueRedis, prefix });
  queue.on('error', () => undefined);
  return {
    prefix,
    front,
    redis,
    queue,
    async close() {
      await queue.close();
      queueRedis.disconnect();
      redis.disconnect();
    },
  };
}
