import { randomUUID } from 'node:crypto';
import type { ReserveRunResult, RunOwnership, RunToken } from '../../api/run-ownership.js';
import type { ConformanceTestApi } from './test-api.js';

/** What a run-ownership factory returns: the implementation under test and its hooks. */
export interface RunOwnershipUnderTest {
  ownership: RunOwnership;
  /**
   * Makes the current claim of the run expire now, as if its owner died (implementations whose
   * claims expire, such as leases). Without it the expiry tests are skipped: a claim then lasts
   * until its owner releases or ends the run.
   */
  expire?: ((runId: string) => Promise<void>) | undefined;
  /** Releases what the factory made (connections, keys). */
  cleanup?: (() => Promise<void> | void) | undefined;
}

/**
 * Makes a fresh {@link RunOwnership} for one test (several tests may share one backend: every
 * test uses its own random child and run ids).
 */
export type CreateRunOwnership = () => Promise<RunOwnershipUnderTest> | RunOwnershipUnderTest;

const SUITE = 'RunOwnership conformance';

function tokenOf(result: ReserveRunResult, what: string): RunToken {
  if (result.kind !== 'reserved') throw new Error(`${SUITE}: ${what} was not reserved (${result.kind})`);
  return result.token;
}

/**
 * The suite every {@link RunOwnership} implementation must pass — the in-process one (the
 * scheduler's run ledger) and the Redis + PostgreSQL one of distributed mode run it alike: one
 * live run per child (`open` de-duplicates), reservation with a token whose epoch grows with every
 * claim, renewal and end rights only for the current token (a stale owner never gets the run
 * back), one end per run, ends that never clear a newer run, and — when the factory can expire a
 * claim — takeover after expiry.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeRunOwnershipConformance('in-process', () => ({ ownership: new InProcessRunOwnership(new RunLedger({ now: Date.now })) }), vitest);
 */
export function describeRunOwnershipConformance(name: string, create: CreateRunOwnership, t: ConformanceTestApi): void {
  const { describe, it, expect } = t;
  const ids = (): { childSessionId: string; runId: string; parentSessionId: string } => ({
    childSessionId: `child-${randomUUID()}`,
    runId: `run-${randomUUID()}`,
    parentSessionId: `parent-${randomUUID()}`,
  });
  const withOwnership =
    (body: (under: RunOwnershipUnderTest) => Promise<void>): (() => Promise<void>) =>
    async () => {
      const under = await create();
      try {
        await body(under);
      } finally {
        await under.cleanup?.();
      }
    };

  describe(`${name} (RunOwnership conformance)`, () => {
    it(
      'open makes one live run per child; opening it again is a no-op, another run is refused',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        expect(await ownership.liveRun(run.childSessionId)).toBeUndefined();
        expect(await ownership.open(run)).toEqual({ opened: true });
        expect(await ownership.open(run)).toEqual({ opened: true });
        expect(await ownership.open({ ...run, runId: `run-${randomUUID()}` })).toEqual({ opened: false, liveRunId: run.runId });
        expect(await ownership.liveRun(run.childSessionId)).toBe(run.runId);
        const other = ids();
        expect(await ownership.open(other)).toEqual({ opened: true });
        expect(await ownership.liveRun(other.childSessionId)).toBe(other.runId);
      }),
    );

    it(
      'reserve answers gone for a run that is not the child’s live run',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        expect((await ownership.reserve(run, 'a')).kind).toBe('gone');
        await ownership.open(run);
        const stale = await ownership.reserve({ ...run, runId: `run-${randomUUID()}` }, 'a');
        expect(stale.kind).toBe('gone');
        expect(stale.kind === 'gone' ? stale.liveRunId : undefined).toBe(run.runId);
      }),
    );

    it(
      'reserve gives the first owner a token; another owner is held off while it holds the run',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const token = tokenOf(await ownership.reserve(run, 'a'), 'the first reserve');
        expect(token.runId).toBe(run.runId);
        expect(token.epoch).toBeGreaterThan(0);
        expect((await ownership.reserve(run, 'b')).kind).toBe('held');
        expect(await ownership.renew(token, 'a')).toBe(true);
        expect(await ownership.renew(token, 'b')).toBe(false);
      }),
    );

    it(
      'an owner reserving a run it holds gets a newer token, and its older one stops working',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const first = tokenOf(await ownership.reserve(run, 'a'), 'the first reserve');
        const second = tokenOf(await ownership.reserve(run, 'a'), 'the second reserve');
        expect(second.epoch).toBeGreaterThan(first.epoch);
        expect(await ownership.renew(first, 'a')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, first, 'a')).toBe(false);
        expect(await ownership.renew(second, 'a')).toBe(true);
      }),
    );

    it(
      'after a release another owner reserves under a higher epoch; the old token can do nothing',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const old = tokenOf(await ownership.reserve(run, 'a'), 'the first reserve');
        await ownership.release(old, 'a');
        const next = tokenOf(await ownership.reserve(run, 'b'), 'the reserve after release');
        expect(next.epoch).toBeGreaterThan(old.epoch);
        expect(await ownership.renew(old, 'a')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, old, 'a')).toBe(false);
        // A stale release does not drop the new claim.
        await ownership.release(old, 'a');
        expect(await ownership.renew(next, 'b')).toBe(true);
        expect((await ownership.reserve(run, 'a')).kind).toBe('held');
      }),
    );

    it(
      'claimEnd is granted once per token, to the current token only',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const token = tokenOf(await ownership.reserve(run, 'a'), 'the reserve');
        expect(await ownership.claimEnd(run.childSessionId, token, 'b')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(true);
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(false);
      }),
    );

    it(
      'a token granted the end that lost the run unended leaves it to the newer token, once',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const token = tokenOf(await ownership.reserve(run, 'a'), 'the reserve');
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(true);
        // Its owner gave the run up (or died) before ending it: another owner takes it and may end it.
        await ownership.release(token, 'a');
        const next = tokenOf(await ownership.reserve(run, 'b'), 'the reserve after release');
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, next, 'b')).toBe(true);
        expect(await ownership.claimEnd(run.childSessionId, next, 'b')).toBe(false);
        await ownership.end({ ...run, status: 'error', error: 'lost' });
        expect(await ownership.claimEnd(run.childSessionId, next, 'b')).toBe(false);
      }),
    );

    it(
      'end frees the child: no live run, the run is gone, a new run can open; end is idempotent',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        const token = tokenOf(await ownership.reserve(run, 'a'), 'the reserve');
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(true);
        await ownership.end({ ...run, status: 'completed', result: 'done' });
        await ownership.end({ ...run, status: 'completed', result: 'done' });
        expect(await ownership.liveRun(run.childSessionId)).toBeUndefined();
        expect((await ownership.reserve(run, 'a')).kind).toBe('gone');
        expect(await ownership.claimEnd(run.childSessionId, token, 'a')).toBe(false);
        const again = { ...run, runId: `run-${randomUUID()}` };
        expect(await ownership.open(again)).toEqual({ opened: true });
        expect(await ownership.liveRun(run.childSessionId)).toBe(again.runId);
      }),
    );

    it(
      'a late end of an older run never clears the child’s newer run',
      withOwnership(async ({ ownership }) => {
        const run = ids();
        await ownership.open(run);
        await ownership.end({ ...run, status: 'cancelled', reason: 'user' });
        const newer = { ...run, runId: `run-${randomUUID()}` };
        await ownership.open(newer);
        await ownership.end({ ...run, status: 'error', error: 'late' });
        expect(await ownership.liveRun(run.childSessionId)).toBe(newer.runId);
        expect((await ownership.reserve(newer, 'a')).kind).toBe('reserved');
      }),
    );

    it(
      'runs of different children are independent',
      withOwnership(async ({ ownership }) => {
        const one = ids();
        const two = ids();
        await ownership.open(one);
        await ownership.open(two);
        const a = tokenOf(await ownership.reserve(one, 'a'), 'the first child');
        const b = tokenOf(await ownership.reserve(two, 'b'), 'the second child');
        expect(await ownership.claimEnd(one.childSessionId, a, 'a')).toBe(true);
        expect(await ownership.claimEnd(two.childSessionId, b, 'b')).toBe(true);
        await ownership.end({ ...one, status: 'completed' });
        expect(await ownership.liveRun(two.childSessionId)).toBe(two.runId);
        expect(await ownership.renew(b, 'b')).toBe(true);
      }),
    );

    it(
      'an expired claim is reserved again under a higher epoch and its owner never gets it back',
      withOwnership(async ({ ownership, expire }) => {
        if (expire === undefined) return;
        const run = ids();
        await ownership.open(run);
        const old = tokenOf(await ownership.reserve(run, 'a'), 'the first reserve');
        await expire(run.runId);
        expect(await ownership.renew(old, 'a')).toBe(false);
        const next = tokenOf(await ownership.reserve(run, 'b'), 'the reserve after expiry');
        expect(next.epoch).toBeGreaterThan(old.epoch);
        expect(await ownership.renew(old, 'a')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, old, 'a')).toBe(false);
        expect(await ownership.claimEnd(run.childSessionId, next, 'b')).toBe(true);
      }),
    );
  });
}
