import type { OpenRunResult, ReserveRunResult, RunOwnership, RunOwnershipEnd, RunToken } from '../api/run-ownership.js';
import { isLive, type RunLedger } from './run-ledger.js';

/** The error of an end recorded without an outcome. */
const ENDED_UNKNOWN = 'the run ended without a recorded outcome';

/** Who holds a run now. */
interface Holder {
  owner: string;
  epoch: number;
}

/**
 * The in-process {@link RunOwnership}: the scheduler's {@link RunLedger} (the same records
 * `getChild`, `waitForChildren` and recovery read), with an epoch per run. A claim never expires
 * in one process: a run is held until its owner ends or releases it. `open` is the ledger's
 * `queue`, the first `reserve` its `reserve` (queued → running), `claimEnd` its `claimEnd` and
 * `end` its `end`, so a run driven through the port is seen by the scheduler like any other.
 * Passes the run-ownership conformance suite, as the Redis + PostgreSQL implementation does.
 *
 * @example
 * const ownership = new InProcessRunOwnership(new RunLedger({ now: () => Date.now() }));
 * await ownership.open({ childSessionId: 'c1', runId: 'r1', parentSessionId: 'root' });
 * const reserved = await ownership.reserve({ childSessionId: 'c1', runId: 'r1' }, 'me'); // { kind: 'reserved', token: { runId: 'r1', epoch: 1 } }
 */
export class InProcessRunOwnership implements RunOwnership {
  readonly #ledger: RunLedger;
  readonly #holders = new Map<string, Holder>();
  /** The last epoch handed out per live run. */
  readonly #epochs = new Map<string, number>();
  /** The epoch of the token each run's end was granted to (see {@link claimEnd}). */
  readonly #endGrants = new Map<string, number>();

  constructor(ledger: RunLedger) {
    this.#ledger = ledger;
  }

  open(run: { childSessionId: string; runId: string; parentSessionId: string }): Promise<OpenRunResult> {
    const opened = this.#ledger.queue({ ...run, announced: true });
    if (opened) return Promise.resolve({ opened: true });
    const live = this.#ledger.liveRun(run.childSessionId);
    return Promise.resolve(live === undefined ? { opened: true } : { opened: false, liveRunId: live.runId });
  }

  liveRun(childSessionId: string): Promise<string | undefined> {
    return Promise.resolve(this.#ledger.liveRun(childSessionId)?.runId);
  }

  reserve(run: { childSessionId: string; runId: string }, owner: string): Promise<ReserveRunResult> {
    const record = this.#ledger.runOf(run.childSessionId);
    if (record === undefined || record.runId !== run.runId || !isLive(record)) {
      const live = this.#ledger.liveRun(run.childSessionId)?.runId;
      return Promise.resolve({ kind: 'gone', ...(live === undefined ? {} : { liveRunId: live }) });
    }
    // Another owner holds it; its own holder reserving again gets a newer token (the old one stops working).
    const holder = this.#holders.get(run.runId);
    if (holder !== undefined && holder.owner !== owner) return Promise.resolve({ kind: 'held' });
    if (record.status === 'queued' && !this.#ledger.reserve(run.childSessionId, run.runId, record.parentSessionId)) {
      return Promise.resolve({ kind: 'held' });
    }
    const epoch = (this.#epochs.get(run.runId) ?? 0) + 1;
    this.#epochs.set(run.runId, epoch);
    this.#holders.set(run.runId, { owner, epoch });
    return Promise.resolve({ kind: 'reserved', token: { runId: run.runId, epoch } });
  }

  renew(token: RunToken, owner: string): Promise<boolean> {
    return Promise.resolve(this.#holds(token, owner));
  }

  claimEnd(childSessionId: string, token: RunToken, owner: string): Promise<boolean> {
    const live = this.#ledger.liveRun(childSessionId)?.runId === token.runId;
    if (!live || !this.#holds(token, owner)) return Promise.resolve(false);
    const granted = this.#endGrants.get(token.runId);
    // The first grant is the ledger's own (once per run); a newer token only after an older one lost the run unended.
    if (granted === undefined ? !this.#ledger.claimEnd(token.runId) : granted >= token.epoch) return Promise.resolve(false);
    this.#endGrants.set(token.runId, token.epoch);
    return Promise.resolve(true);
  }

  end(run: RunOwnershipEnd): Promise<void> {
    const record = this.#ledger.runOf(run.childSessionId);
    if (record !== undefined && record.runId === run.runId && isLive(record)) {
      const { status, error, ...rest } = run;
      this.#ledger.end({ ...rest, status: status ?? 'error', error: status === undefined ? (error ?? ENDED_UNKNOWN) : error });
    }
    this.#holders.delete(run.runId);
    this.#epochs.delete(run.runId);
    this.#endGrants.delete(run.runId);
    return Promise.resolve();
  }

  release(token: RunToken, owner: string): Promise<void> {
    if (this.#holds(token, owner)) this.#holders.delete(token.runId);
    return Promise.resolve();
  }

  /** True while `owner` holds the run under exactly this token and the run is live. */
  #holds(token: RunToken, owner: string): boolean {
    const holder = this.#holders.get(token.runId);
    return holder !== undefined && holder.owner === owner && holder.epoch === token.epoch;
  }
}
