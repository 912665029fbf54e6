import type { RunFence } from './ports.js';
import type { CompletionReason, CompletionStatus } from './wire-types.js';

/**
 * A run's ownership token: the run and the epoch of the claim that holds it. Every write of the
 * run carries it (`SessionStore.save(session, { fence })`, `EventLog.append(id, event, { fence })`),
 * so an owner that lost the run can change nothing about it.
 */
export type RunToken = RunFence;

/** A run's end, as {@link RunOwnership.end} records it (its completion carries the same). */
export interface RunOwnershipEnd {
  /** The child session the run ran. */
  childSessionId: string;
  /** The run that ended. */
  runId: string;
  /** The outcome, when the caller knows it (the in-process ledger records an end without one as `error`). */
  status?: CompletionStatus | undefined;
  /** What went wrong, for `error`. */
  error?: string | undefined;
  /** Why it was cancelled or interrupted. */
  reason?: CompletionReason | undefined;
  /** The final answer, for `completed`. */
  result?: string | undefined;
}

/** What {@link RunOwnership.open} answers. */
export type OpenRunResult =
  /** The run is now the child's live run (or already was: `open` is idempotent for one run). */
  | { opened: true }
  /** Another run of the child is live: nothing changed. */
  | { opened: false; liveRunId: string };

/** What {@link RunOwnership.reserve} answers. */
export type ReserveRunResult =
  /** The run is this owner's, under a token no earlier claim of the run holds. */
  | { kind: 'reserved'; token: RunToken }
  /** Another owner holds the run (for about `retryInMs` more when its claim expires; `undefined`: until it is released). */
  | { kind: 'held'; retryInMs?: number | undefined }
  /** The run is not the child's live run (it ended, or a newer run took its place): leave it alone. */
  | { kind: 'gone'; liveRunId?: string | undefined };

/**
 * The run-ownership port: who runs which run of a child, with a fencing token per run. Embedded
 * and distributed mode are the same scheduler over it, with two implementations that pass one
 * conformance suite (`describeRunOwnershipConformance` in `/testing`):
 * - in-process: the scheduler's `RunLedger` (`RunLedger.ownership`), for one process;
 * - Redis + PostgreSQL (`RedisRunOwnership` in distributed mode): the claim and its epoch in
 *   Redis (expiring with the lease), the epoch checked by PostgreSQL on every write of the run.
 *
 * The life of a run: `open` (it becomes the child's one live run) → `reserve` (an owner takes it
 * and gets a token) → `renew` while it runs → `claimEnd` (the one owner allowed to publish its
 * end) → `end` (the child has no live run any more). An owner that stops without ending it calls
 * `release`; a run whose owner is gone is reserved again under a higher epoch, and every token
 * before it stops working: `renew` and `claimEnd` refuse it, and it never gets the run back.
 *
 * @example
 * const ownership: RunOwnership = ledger.ownership;
 * await ownership.open({ childSessionId: 'c1', runId: 'r1', parentSessionId: 'root' });
 * const reserved = await ownership.reserve({ childSessionId: 'c1', runId: 'r1' }, 'worker-a');
 * if (reserved.kind === 'reserved' && (await ownership.claimEnd('c1', reserved.token, 'worker-a'))) {
 *   await ownership.end({ childSessionId: 'c1', runId: 'r1', status: 'completed' });
 * }
 */
export interface RunOwnership {
  /**
   * Makes `runId` the child's live run, unless another run of the child is live (then
   * `{ opened: false, liveRunId }` and nothing changes). Opening the live run again is a no-op.
   */
  open(run: { childSessionId: string; runId: string; parentSessionId: string }): Promise<OpenRunResult>;
  /** The child's live run (opened and not ended), or `undefined`. */
  liveRun(childSessionId: string): Promise<string | undefined>;
  /**
   * Takes the child's live run `runId` for `owner`. A run nobody holds (never reserved, released,
   * or its holder's claim expired) is reserved under an epoch higher than every earlier claim of
   * it. A run another owner holds answers `held`; a run that is not the child's live run `gone`.
   */
  reserve(run: { childSessionId: string; runId: string }, owner: string): Promise<ReserveRunResult>;
  /** Extends `owner`'s claim; `false` when the token is not the run's current one (taken over, expired, ended). Never claims the run back. */
  renew(token: RunToken, owner: string): Promise<boolean>;
  /**
   * The right to publish the run's end: `true` only to the holder of its current token, while it
   * is the child's live run, and once per run — except that a newer token gets it again when the
   * token granted it before stopped holding the run without ending it (it was released, or taken
   * over after its owner stalled or died before its close got through). Every write of the end
   * carries the token and is fenced, so only one end is ever written; without this a run whose
   * closer died after its grant could never be closed.
   */
  claimEnd(childSessionId: string, token: RunToken, owner: string): Promise<boolean>;
  /** The run ended: the child has no live run any more, unless a newer run already took its place. Idempotent. */
  end(run: RunOwnershipEnd): Promise<void>;
  /** `owner` gives its claim up without ending the run (another owner may reserve it at once). Only that token's claim goes. */
  release(token: RunToken, owner: string): Promise<void>;
}
