import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { RedisKeys } from './keys.js';

/** Most owner keys one {@link listWorkers} call reads (past it the answer says `truncated`). */
export const MAX_OWNER_KEYS = 10_000;

/** One run a worker holds: its ownership epoch and the ms left on its lease (renewed every third of it). */
export interface WorkerRun {
  run_id: string;
  epoch: number;
  lease_ms_left: number;
}

/**
 * One worker of a deployment. `address` and `age_ms` come from its queue connection
 * (`CLIENT LIST`); a worker that holds runs but has no connection now (it just died, its leases
 * not yet expired) is listed without them.
 */
export interface WorkerInfo {
  /** The Sprout worker id (`createWorker({ name })`, `sprout worker --name`). */
  name: string;
  address?: string | undefined;
  /** How long its oldest queue connection has been open. */
  age_ms?: number | undefined;
  runs: WorkerRun[];
}

/**
 * What {@link listWorkers} answers: the workers, sorted by name, and whether the scan of the
 * owner keys stopped at {@link MAX_OWNER_KEYS}.
 *
 * @example
 * const { workers } = await listWorkers({ redis, queue, keys: redisKeys('sprout') });
 */
export interface WorkersInfo {
  workers: WorkerInfo[];
  truncated: boolean;
}

/** What {@link listWorkers} reads. */
export interface ListWorkersContext {
  redis: Redis;
  queue: Pick<Queue, 'getWorkers'>;
  keys: RedisKeys;
  /** @default MAX_OWNER_KEYS */
  maxKeys?: number | undefined;
}

/** The worker name in a BullMQ worker connection's raw client name (`<prefix>:<base64 queue>:w:<name>`). */
const workerNameOf = (rawName: string | undefined): string | undefined => {
  const at = rawName?.indexOf(':w:') ?? -1;
  return rawName !== undefined && at >= 0 ? rawName.slice(at + 3) : undefined;
};

/** Splits an owner key's `worker|epoch` value (the worker id may itself hold `|`). */
const parseOwner = (value: string): { worker: string; epoch: number } | undefined => {
  const bar = value.lastIndexOf('|');
  const epoch = Number(value.slice(bar + 1));
  return bar > 0 && Number.isInteger(epoch) ? { worker: value.slice(0, bar), epoch } : undefined;
};

/**
 * The live workers of a deployment and the runs each one holds: BullMQ's named worker
 * connections (`queue.getWorkers()`), and the owner keys (`<prefix>:sprout:owner:<runId>`,
 * `worker|epoch`) read with SCAN on the deployment's prefix only, at most `maxKeys` of them, with
 * their TTL. What `GET /v1/workers` answers in distributed mode.
 *
 * @example
 * const { workers } = await listWorkers({ redis, queue, keys: redisKeys('sprout') });
 * for (const w of workers) console.log(w.name, w.runs.map((run) => run.run_id));
 */
export async function listWorkers({ redis, queue, keys, maxKeys = MAX_OWNER_KEYS }: ListWorkersContext): Promise<WorkersInfo> {
  const byName = new Map<string, WorkerInfo>();
  for (const client of await queue.getWorkers()) {
    const name = workerNameOf(client['rawname']);
    if (name === undefined) continue;
    const ageMs = Number(client['age']) * 1000;
    const known = byName.get(name);
    const info: WorkerInfo = known ?? { name, runs: [] };
    if (info.address === undefined && client['addr'] !== undefined) info.address = client['addr'];
    if (Number.isFinite(ageMs) && (info.age_ms === undefined || ageMs > info.age_ms)) info.age_ms = ageMs;
    byName.set(name, info);
  }

  const ownerPrefix = keys.owner('');
  const ownerKeys: string[] = [];
  let cursor = '0';
  let truncated = false;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${ownerPrefix}*`, 'COUNT', 1000);
    cursor = next;
    ownerKeys.push(...found);
    if (ownerKeys.length >= maxKeys) {
      truncated = cursor !== '0' || ownerKeys.length > maxKeys;
      ownerKeys.length = Math.min(ownerKeys.length, maxKeys);
      break;
    }
  } while (cursor !== '0');

  const pipeline = redis.pipeline();
  for (const key of ownerKeys) pipeline.get(key).pttl(key);
  const replies = ownerKeys.length > 0 ? ((await pipeline.exec()) ?? []) : [];
  ownerKeys.forEach((key, i) => {
    const value = replies[2 * i]?.[1];
    const ttl = Number(replies[2 * i + 1]?.[1]);
    const owner = typeof value === 'string' ? parseOwner(value) : undefined;
    // Gone between SCAN and GET, or not a lease (no TTL): not a run anybody holds.
    if (owner === undefined || !(ttl > 0)) return;
    const info = byName.get(owner.worker) ?? { name: owner.worker, runs: [] };
    info.runs.push({ run_id: key.slice(ownerPrefix.length), epoch: owner.epoch, lease_ms_left: ttl });
    byName.set(owner.worker, info);
  });

  const workers = [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const info of workers) info.runs.sort((a, b) => a.run_id.localeCompare(b.run_id));
  return { workers, truncated };
}
