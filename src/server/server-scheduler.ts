import type { SpawnScheduler } from '../api/spawn-scheduler.js';

/**
 * What the server needs of a scheduler: the embedded `SpawnScheduler`, or the distributed front
 * door (`createDistributedScheduler`), which has the same methods.
 *
 * @example
 * const scheduler: ServerScheduler = createSpawnScheduler({ store, agent });
 */
export type ServerScheduler = Pick<
  SpawnScheduler,
  'spawnChild' | 'events' | 'cancel' | 'cancelTree' | 'getChild' | 'waitForChildren' | 'deleteSession'
> &
  /** `run` (a message to any session): the embedded scheduler has it; without it the route answers 501. */
  Partial<Pick<SpawnScheduler, 'run'>> &
  /** `enqueue` (re-run a child as it is): `POST /v1/runs/bulk` retries with it when present. */
  Partial<Pick<SpawnScheduler, 'enqueue'>>;
