import type { Redis } from 'ioredis';
import type { OpenRun } from '../api/ports.js';
import type { OpenRunResult, ReserveRunResult, RunOwnership, RunOwnershipEnd, RunToken } from '../api/run-ownership.js';
import type { ClaimedChild, PostgresRunFences } from '../adapters/postgres/postgres-run-fences.js';
import type { RedisKeys } from './keys.js';
import type { RedisScripts } from './redis-scripts.js';

/** How long the "end claimed" marker of a run lives when nothing deletes it (a week). */
const ENDED_TTL_MS = 7 * 24 * 3600 * 1000;

/** What a worker taking a run learns in the same round trips as its claim. */
export interface RunReservationDetails {
  /** The run's cancel request (its reason), if any. */
  cancel: string | null;
  /** The parent is in a cancelled tree. */
  halt: string | null;
  /** A worker went as far as announcing the run (its owner's name). */
  taken: string | null;
  /** The run's row in PostgreSQL's open-run ledger: it was announced and never ended (its worker was lost). */
  open: OpenRun | undefined;
  /** The child's stored last run and row as the claim saw it, `undefined` when the child is gone. */
  child: ClaimedChild | undefined;
}

/** {@link RedisRunOwnership.reserve}'s answer: the port's, with what the worker needs of a reserved run. */
export type RedisReserveResult =
  { kind: 'reserved'; token: RunToken; details: RunReservationDetails } | Exclude<ReserveRunResult, { kind: 'reserved' }>;

/** Options of {@link RedisRunOwnership}. */
export interface RedisRunOwnershipOptions {
  redis: Redis;
  scripts: RedisScripts;
  keys: RedisKeys;
  fences: PostgresRunFences;
  /** How long a claim lasts without renewal (a dead owner's runs are reserved again after it). */
  leaseMs: number;
  /** Runs before the PostgreSQL claim of `runId`: what this process still has to write of it is written first. */
  beforeFence?: ((runId: string) => Promise<void> | void) | undefined;
}

/**
 * The Redis + PostgreSQL {@link RunOwnership} of distributed mode. The child's live run is the
 * Redis key `live:<child>`; a claim is `owner:<run>` = `owner|epoch`, expiring after `leaseMs`
 * unless renewed, with the epoch from the counter `epoch:<run>`; PostgreSQL's `run_fences` takes
 * the same epoch only when it is higher than the stored one, and every fenced write of the run
 * (session saves, events, the completion) is checked against it in the database. When Redis lost
 * its data and hands out an epoch PostgreSQL already saw, the claim moves past it. Passes the
 * run-ownership conformance suite, as the in-process implementation does.
 *
 * `reserve` is one Lua script (the child's live run, the run's cancel / halt / taken flags and
 * the claim) and one PostgreSQL statement (the fence, the open-ledger row and the child's last run).
 *
 * @example
 * const ownership = new RedisRunOwnership({ redis, scripts, keys, fences, leaseMs: 30_000 });
 * const reserved = await ownership.reserve({ childSessionId, runId, parentSessionId }, workerName);
 */
export class RedisRunOwnership implements RunOwnership {
  readonly #o: RedisRunOwnershipOptions;

  constructor(options: RedisRunOwnershipOptions) {
    this.#o = options;
  }

  async open(run: { childSessionId: string; runId: string; parentSessionId: string }): Promise<OpenRunResult> {
    const { opened, live } = await this.#o.scripts.openRun(run.childSessionId, run.runId);
    return opened ? { opened: true } : { opened: false, liveRunId: live };
  }

  async liveRun(childSessionId: string): Promise<string | undefined> {
    return (await this.#o.redis.get(this.#o.keys.live(childSessionId))) ?? undefined;
  }

  async reserve(
    run: { childSessionId: string; runId: string; parentSessionId?: string | undefined },
    owner: string,
  ): Promise<RedisReserveResult> {
    const { scripts, fences, leaseMs } = this.#o;
    const { runId, childSessionId } = run;
    const claim = await scripts.takeRun({ runId, childSessionId, parentSessionId: run.parentSessionId ?? '' }, owner, leaseMs);
    if (claim.waitMs < 0) return { kind: 'gone', ...(claim.live === null ? {} : { liveRunId: claim.live }) };
    if (claim.waitMs > 0) return { kind: 'held', retryInMs: claim.waitMs };
    let epoch = claim.epoch;
    try {
      await this.#o.beforeFence?.(runId);
      let taken = await fences.claimAndInspect(runId, owner, epoch, childSessionId);
      if (taken.fence === undefined && taken.storedEpoch !== undefined) {
        // Redis lost its counter: move this claim past PostgreSQL's epoch while it still holds.
        const raised = await scripts.raiseEpoch(runId, owner, epoch, taken.storedEpoch, leaseMs);
        if (raised === 0) return { kind: 'held' };
        epoch = raised;
        taken = await fences.claimAndInspect(runId, owner, epoch, childSessionId);
      }
      if (taken.fence === undefined) {
        await scripts.disownRun(runId, owner, epoch);
        return { kind: 'held' };
      }
      return {
        kind: 'reserved',
        token: taken.fence,
        details: { cancel: claim.cancel, halt: claim.halt, taken: claim.taken, open: taken.open, child: taken.child },
      };
    } catch (error) {
      await scripts.disownRun(runId, owner, epoch).catch(() => undefined);
      throw error;
    }
  }

  renew(token: RunToken, owner: string): Promise<boolean> {
    return this.#o.scripts.renewRun(token.runId, owner, token.epoch, this.#o.leaseMs);
  }

  claimEnd(childSessionId: string, token: RunToken, owner: string): Promise<boolean> {
    return this.#o.scripts.claimEnd({ runId: token.runId, childSessionId }, owner, token.epoch, ENDED_TTL_MS);
  }

  async end(run: RunOwnershipEnd): Promise<void> {
    await this.#o.scripts.finishRun(run.runId, run.childSessionId);
  }

  /**
   * {@link end}, and in the same round trip what the worker still holds of the run: `owner`'s
   * claim (`token`, when given) and, with `slot`, the run's per-parent slot (`limit` and `graceMs`
   * as the worker admits runs). Resolves with the parent's parked runs that now fit.
   *
   * @example
   * const parked = await ownership.endAndRelease(run, token, workerName, { parentSessionId: 'p', limit: 8, graceMs: 120_000 });
   */
  endAndRelease(
    run: RunOwnershipEnd & { parentSessionId: string },
    token: RunToken | undefined,
    owner: string,
    slot: { limit: number; graceMs: number; release: boolean },
  ): Promise<string[]> {
    return this.#o.scripts.endRun(run, slot.release, slot.limit, slot.graceMs, owner, token?.epoch ?? 0);
  }

  async release(token: RunToken, owner: string): Promise<void> {
    await this.#o.scripts.disownRun(token.runId, owner, token.epoch);
  }
}
