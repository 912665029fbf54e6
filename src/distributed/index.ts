/**
 * Distributed mode (issue 14): the same scheduler on BullMQ workers over Redis, with sessions,
 * events and the run ledger in PostgreSQL. `createDistributedScheduler` is the front door (the
 * `SpawnScheduler` API where it makes sense), `createWorker` runs runs. See docs/guides/distributed.md.
 */
export { createDistributedScheduler, type DistributedScheduler, type DistributedSchedulerOptions } from './distributed-scheduler.js';
export { createWorker, type DistributedWorker, type DistributedWorkerOptions } from './worker.js';
export type { DistributedDiagnostic } from './diagnostics.js';
export type { PostgresConnection, RedisConnection } from './connections.js';
export { QueueFullError, QueueUnavailableError } from './errors.js';
export { RUN_QUEUE_NAME, redisKeys, requeuedRunId, validatePrefix } from './keys.js';
export { WORKER_LOST_ERROR } from './lost-run.js';
export {
  RedisRunOwnership,
  type RedisRunOwnershipOptions,
  type RedisReserveResult,
  type RunReservationDetails,
} from './redis-run-ownership.js';
export type { WorkerInfo, WorkerRun, WorkersInfo } from './workers-info.js';
