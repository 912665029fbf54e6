import type { AnyActorRef } from 'xstate';
import { currentRun } from './run-context.js';
import type { RunLedgers } from './run-ledgers.js';
import type { RunTracker } from './run-tracker.js';
import type { RunWaits } from './run-waits.js';

/** A running run that a call comes from (see `run-context.ts`). */
export interface CallingRun {
  runId: string;
  tracker: RunTracker;
}

/**
 * How a run gives its slot back while its agent waits on the scheduler — for its children
 * (`waitForChildren`) or for queue room (a spawn under backpressure) — and takes one again, ahead
 * of queued runs, before the agent continues. Only a call from inside the run itself yields: from
 * outside, the run's agent keeps working, so it keeps its slot.
 *
 * @example
 * const yielder = createSlotYielder({ actor, ledgers, waits });
 * const run = yielder.callingRun(parentSessionId);
 * return run ? yielder.yieldWhile(run, childIds, pending) : pending;
 */
export function createSlotYielder(deps: { actor: AnyActorRef; ledgers: RunLedgers; waits: RunWaits }) {
  const { actor, ledgers, waits } = deps;
  const active = (): boolean => (actor.getSnapshot() as { status: string }).status === 'active';
  return {
    /** The running run this call comes from, when it is `sessionId`'s (any session's when omitted). */
    callingRun(sessionId?: string): CallingRun | undefined {
      const caller = currentRun();
      if (caller === undefined || (sessionId !== undefined && caller.sessionId !== sessionId)) return undefined;
      const own = ledgers.liveRun(caller.sessionId);
      if (own === undefined || own.runId !== caller.runId || own.status !== 'running') return undefined;
      const tracker = ledgers.tracker(own.runId, caller.sessionId);
      return tracker?.isOpen === true && active() ? { runId: own.runId, tracker } : undefined;
    },

    /**
     * Settles as `pending` does; meanwhile the run holds no slot (its heartbeats say what it waits
     * on), and it holds one again before this settles. Nested waits of one run share one release.
     * `early` receives a function that asks for the slot back at once: call it synchronously when
     * the wait is satisfied (in the turn a child ended), so the run is served before that child's
     * slot goes to a queued run.
     */
    async yieldWhile<T>(
      run: CallingRun,
      waitingOn: readonly string[],
      pending: Promise<T>,
      early?: (resume: () => void) => void,
    ): Promise<T> {
      const { runId, tracker } = run;
      if (waits.begin(runId)) {
        tracker.waitingOn = waitingOn;
        actor.send({ type: 'scheduler.yield', runId });
      }
      let done = false;
      let resumed: Promise<void> | undefined;
      const resume = (): void => {
        if (done) return;
        done = true;
        if (!waits.end(runId)) return;
        tracker.waitingOn = undefined;
        if (!active()) return;
        resumed = waits.resumed(runId);
        actor.send({ type: 'scheduler.resume', runId });
      };
      early?.(resume);
      try {
        return await pending;
      } finally {
        resume();
        if (resumed !== undefined) await resumed;
      }
    },
  };
}
