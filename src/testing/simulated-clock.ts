import { SimulatedClock } from 'xstate';
import { SproutError } from '../errors.js';
import type { SproutClock } from '../clock.js';

/**
 * XState's `SimulatedClock` that also knows its pending timers, so {@link advance} can jump from
 * timer to timer. It is a `SproutClock` and can be passed anywhere a `SimulatedClock` goes.
 */
export class TestClock extends SimulatedClock implements SproutClock {
  readonly #due = new Map<number, number>();

  override setTimeout(fn: (...args: unknown[]) => void, timeout: number): number {
    const due = this.now() + timeout;
    const id: number = super.setTimeout(() => {
      this.#due.delete(id);
      fn();
    }, timeout);
    this.#due.set(id, due);
    return id;
  }

  override clearTimeout(id: number): void {
    this.#due.delete(id);
    super.clearTimeout(id);
  }

  /** How many timers are scheduled and not yet fired or cleared. */
  pendingTimers(): number {
    return this.#due.size;
  }

  /** When the earliest pending timer is due (simulated ms), or `undefined` when none is. */
  nextTimerAt(): number | undefined {
    let next: number | undefined;
    for (const due of this.#due.values()) if (next === undefined || due < next) next = due;
    return next;
  }
}

/** Options of {@link createTestClock}. */
export interface TestClockOptions {
  /** Simulated time the clock starts at, in ms since the epoch. @default 0 */
  now?: number;
}

/**
 * Creates a {@link TestClock}: XState's `SimulatedClock` (pass it as `createActor(..., { clock })`
 * or `createSpawnScheduler({ clock })`) that also satisfies `SproutClock`.
 *
 * @example
 * const clock = createTestClock({ now: Date.UTC(2026, 0, 1) });
 * const scheduler = createSpawnScheduler({ store, agent, clock });
 */
export function createTestClock(options: TestClockOptions = {}): TestClock {
  const clock = new TestClock();
  if (options.now !== undefined) clock.set(options.now);
  return clock;
}

/**
 * Lets promise chains settle: awaits `rounds` macrotask turns (`setImmediate`). No time passes,
 * on the simulated clock or the real one.
 *
 * @example
 * void scheduler.enqueue(job);
 * await flushMicrotasks();
 */
export async function flushMicrotasks(rounds = 10): Promise<void> {
  for (let i = 0; i < rounds; i += 1) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** Options of {@link advance}. */
export interface AdvanceOptions {
  /** Largest single move of the clock in ms. @default timer to timer on a TestClock, else `ms` at once */
  step?: number;
  /** `flushMicrotasks` rounds between moves. @default 10 */
  rounds?: number;
}

const MAX_MOVES = 100_000;

/**
 * Moves `clock` (simulated time) to `until` or stops early once `done()` holds; flushes promise
 * chains before every check. Returns whether `done()` held.
 */
async function drive(
  clock: SimulatedClock,
  target: number,
  options: AdvanceOptions,
  done?: () => boolean | Promise<boolean>,
): Promise<boolean> {
  const rounds = options.rounds ?? 10;
  const nextTimerAt = clock instanceof TestClock ? () => clock.nextTimerAt() : () => undefined;
  await flushMicrotasks(rounds);
  for (let moves = 0; moves < MAX_MOVES; moves += 1) {
    if (done && (await done())) return true;
    const now = clock.now();
    const next = nextTimerAt();
    if (now >= target && (next === undefined || next > target)) return false;
    let to = Math.min(target, options.step === undefined ? target : now + options.step);
    if (next !== undefined && next < to) to = next;
    clock.set(Math.max(now, to));
    await flushMicrotasks(rounds);
  }
  throw new SproutError(
    'CLOCK_RUNAWAY',
    `advance: more than ${MAX_MOVES} clock moves before ${target} ms (a zero-delay timer that keeps rescheduling itself?)`,
  );
}

/**
 * Advances a `SimulatedClock` by `ms`, flushing promise chains between moves, so timers that
 * promise continuations schedule inside the window still fire, in due order. On a
 * {@link TestClock} it jumps from timer to timer; on a plain `SimulatedClock` pass `step`.
 *
 * @example
 * const clock = createTestClock();
 * scheduler.start();
 * await advance(clock, 5000); // one heartbeat interval, every timer due on the way fires
 */
export async function advance(clock: SimulatedClock, ms: number, options: AdvanceOptions = {}): Promise<void> {
  if (!(ms >= 0)) throw new SproutError('INVALID_ADVANCE', `advance: ms must be >= 0, got ${ms}`);
  await drive(clock, clock.now() + ms, options);
}

/** Options of {@link runUntil}. */
export interface RunUntilOptions extends Omit<AdvanceOptions, 'step'> {
  /** The clock to move. */
  clock: SimulatedClock;
  /** Largest single move of the clock in ms; the predicate is checked after each. @default 10 */
  stepMs?: number;
  /** Simulated ms after which {@link RunUntilTimeoutError} is thrown. @default 30000 */
  maxMs?: number;
  /** Names the condition in the error message. */
  description?: string;
}

/** {@link runUntil}'s condition did not hold within `maxMs` of simulated time. */
export class RunUntilTimeoutError extends SproutError {
  readonly maxMs: number;
  constructor(maxMs: number, description: string | undefined, now: number) {
    super(
      'RUN_UNTIL_TIMEOUT',
      `runUntil: ${description ?? 'condition'} still false after ${maxMs} ms of simulated time (clock at ${now} ms)`,
    );
    this.maxMs = maxMs;
  }
}

/**
 * Advances the clock (timer to timer, at most `stepMs` at once, flushing promise chains in
 * between) until `predicate()` holds. Resolves with the simulated ms that passed; rejects with a
 * {@link RunUntilTimeoutError} after `maxMs`.
 *
 * @example
 * await runUntil(() => agent.calls.length === 2, { clock, description: 'both children started' });
 */
export async function runUntil(predicate: () => boolean | Promise<boolean>, options: RunUntilOptions): Promise<number> {
  const { clock, stepMs = 10, maxMs = 30_000, description } = options;
  const start = clock.now();
  const held = await drive(
    clock,
    start + maxMs,
    { step: stepMs, ...(options.rounds === undefined ? {} : { rounds: options.rounds }) },
    predicate,
  );
  if (!held) throw new RunUntilTimeoutError(maxMs, description, clock.now());
  return clock.now() - start;
}
