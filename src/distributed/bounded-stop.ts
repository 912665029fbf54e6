import type { SproutClock } from '../clock.js';

/** How long a stop step that needs Redis may take once the worker's runs are done. */
export const STOP_STEP_GRACE_MS = 10_000;

/**
 * Bounds the steps of a worker's `stop()` that wait on Redis. Such a step can wait for ever while
 * Redis is away: commands on a connection with `maxRetriesPerRequest: null` wait for a reconnect,
 * and BullMQ's `Worker.close()` waits for its blocking connection's `end` event, which ioredis never
 * emits when it is disconnected during a reconnect backoff (redis/ioredis#1247). Each step gets
 * until the worker's own runs are done (`runsDone`, so a draining stop still waits for its agents)
 * plus `graceMs` on the clock; a step cut short is reported (`onCut`) and stop goes on: closing the
 * connections afterwards rejects whatever still waits on them. A step that fails is reported too.
 *
 * @example
 * const bounded = boundedStopSteps({ clock, runsDone: () => drained(), onCut: report, onError: report });
 * await bounded(bullWorker.close(), 'closing the BullMQ worker');
 */
export function boundedStopSteps(deps: {
  clock: SproutClock;
  runsDone: () => Promise<void>;
  onCut: (what: string, graceMs: number) => void;
  onError: (error: unknown) => void;
  graceMs?: number;
}): (step: Promise<unknown> | undefined, what: string) => Promise<void> {
  const graceMs = deps.graceMs ?? STOP_STEP_GRACE_MS;
  return async (step, what) => {
    if (step === undefined) return;
    let timer: unknown;
    let settled = false;
    const done = step.then(
      () => 'done' as const,
      (error: unknown) => {
        deps.onError(error);
        return 'done' as const;
      },
    );
    const cut = deps.runsDone().then(
      () =>
        new Promise<'cut'>((resolve) => {
          if (settled) return;
          timer = deps.clock.setTimeout(() => resolve('cut'), graceMs);
        }),
    );
    try {
      if ((await Promise.race([done, cut])) === 'cut') deps.onCut(what, graceMs);
    } finally {
      settled = true;
      if (timer !== undefined) deps.clock.clearTimeout(timer);
    }
  };
}
