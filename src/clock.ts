/** XState's clock interface (`createActor(..., { clock })`); xstate does not export its name. */
export interface Clock {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors xstate/src/system.ts
  setTimeout(fn: (...args: any[]) => void, timeout: number): any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- mirrors xstate/src/system.ts
  clearTimeout(id: any): void;
}

/**
 * The clock Sprout runs on: XState's `Clock` (what `createActor(..., { clock })` takes) plus
 * `now()`. XState's `SimulatedClock` is one. This file is the only place that touches
 * `Date.now` and `setTimeout`.
 */
export interface SproutClock extends Clock {
  now(): number;
}

/**
 * The real clock: `setTimeout` / `clearTimeout` / `Date.now`.
 *
 * @example
 * const scheduler = createSpawnScheduler({ store, agent, clock: systemClock });
 */
export const systemClock: SproutClock = {
  setTimeout: (fn: (...args: unknown[]) => void, timeout: number) => setTimeout(fn, timeout),
  clearTimeout: (id: unknown) => clearTimeout(id as ReturnType<typeof setTimeout>),
  now: () => Date.now(),
};

/** Gives any XState clock a `now()` (falling back to `Date.now` when it has none). */
export function toSproutClock(clock: Clock | undefined): SproutClock {
  if (!clock) return systemClock;
  const withNow = clock as Partial<SproutClock>;
  if (typeof withNow.now === 'function') return clock as SproutClock;
  return { setTimeout: clock.setTimeout.bind(clock), clearTimeout: clock.clearTimeout.bind(clock), now: () => Date.now() };
}

/**
 * Formats a clock reading as RFC 3339 UTC (`2026-11-25T12:00:00.000Z`).
 *
 * @example
 * toRfc3339(0); // '1970-01-01T00:00:00.000Z'
 */
export function toRfc3339(ms: number): string {
  return new Date(ms).toISOString();
}
