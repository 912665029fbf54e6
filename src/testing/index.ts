/**
 * `@sprout-agents/sprout/testing`: deterministic helpers for testing code built on Sprout — a scripted fake
 * agent, helpers that drive XState's `SimulatedClock`, and an inspection trace recorder.
 *
 * @example
 * import { scriptedAgent, createTestClock, advance, createTraceRecorder } from '@sprout-agents/sprout/testing';
 */

/**
 * A deterministic fake `AgentRuntime` that plays a script on an injected clock.
 *
 * @example
 * const agent = scriptedAgent({ clock, script: [{ tokens: 'Hello' }, { wait: 1000 }] });
 */
export { scriptedAgent } from './scripted-agent.js';

/**
 * Types of the scripted agent: its options, its steps, and what it records.
 *
 * @example
 * const steps: ScriptStep[] = [{ tool: { name: 'search', args: { q: 'x' }, result: 'ok' } }, { fail: 'boom' }];
 */
export type {
  ScriptedAgent,
  ScriptedAgentOptions,
  ScriptedBehavior,
  ScriptedCall,
  ScriptStep,
  EmitStep,
  TokensStep,
  WaitStep,
  MessageStep,
  ToolStep,
  FailStep,
  ThrowSyncStep,
  HangStep,
  IgnoreAbortStep,
  EmitAfterResolveStep,
} from './scripted-agent.js';

/**
 * XState's `SimulatedClock` that tracks its pending timers (a `SproutClock` too).
 *
 * @example
 * const clock = new TestClock();
 * clock.nextTimerAt(); // undefined: nothing scheduled
 */
export { TestClock } from './simulated-clock.js';

/**
 * Creates a {@link TestClock}, optionally starting at a given simulated time.
 *
 * @example
 * const clock = createTestClock({ now: Date.UTC(2026, 0, 1) });
 */
export { createTestClock } from './simulated-clock.js';

/**
 * Lets promise chains settle (a few `setImmediate` turns; no time passes).
 *
 * @example
 * await flushMicrotasks();
 */
export { flushMicrotasks } from './simulated-clock.js';

/**
 * Advances a simulated clock by `ms`, timer to timer, flushing promise chains in between.
 *
 * @example
 * await advance(clock, 5000);
 */
export { advance } from './simulated-clock.js';

/**
 * Advances a simulated clock until a predicate holds, or throws {@link RunUntilTimeoutError}.
 *
 * @example
 * await runUntil(() => agent.calls.length === 1, { clock });
 */
export { runUntil } from './simulated-clock.js';

/**
 * Thrown by `runUntil` when its condition did not hold within `maxMs` of simulated time.
 *
 * @example
 * await expect(runUntil(() => false, { clock, maxMs: 100 })).rejects.toBeInstanceOf(RunUntilTimeoutError);
 */
export { RunUntilTimeoutError } from './simulated-clock.js';

/**
 * Options of the clock helpers.
 *
 * @example
 * const options: RunUntilOptions = { clock, stepMs: 1, maxMs: 1000, description: 'job finished' };
 */
export type { AdvanceOptions, RunUntilOptions, TestClockOptions } from './simulated-clock.js';

/**
 * Records an XState inspection trace compactly; pass `trace.inspect` as `inspect`.
 *
 * @example
 * const trace = createTraceRecorder();
 * createActor(machine, { inspect: trace.inspect }).start();
 * trace.stateValuesOf(machine.id);
 */
export { createTraceRecorder } from './trace-recorder.js';

/**
 * Types of the trace recorder.
 *
 * @example
 * const running: TraceEntry[] = trace.entriesOf('job-', '@xstate.snapshot').filter((e) => e.value === 'running');
 */
export type { TraceEntry, TraceRecorder, TraceRecorderOptions, StateValuesOptions } from './trace-recorder.js';

/**
 * The conformance suites every `SessionStore` and `EventLog` adapter must pass (docs/guides/adapters.md), for
 * any test framework with `describe` / `it` / `expect` (Vitest and Jest fit as they are). Both
 * suites await every call, so synchronous and asynchronous adapters fit.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeSessionStoreConformance('MyStore', async () => ({ store: new MyStore() }), vitest);
 * describeEventLogConformance('MyLog', async ({ retention }) => ({ log: new MyLog({ retention }) }), vitest);
 */
export { describeSessionStoreConformance, describeEventLogConformance, makeSession } from './conformance/index.js';

/**
 * The conformance suite of an `EventLog` that keeps a run ledger (`capabilities.runLedger`,
 * `openRuns()`): runs opened by `sub_session_started`, closed by their `sub_session_completed`,
 * oldest first, surviving a reopen when the log is durable.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeRunLedgerConformance('MyLog', async ({ retention }) => ({ log: new MyLog({ retention }), reopen: () => reopenMyLog() }), vitest);
 */
export { describeRunLedgerConformance } from './conformance/index.js';

/**
 * The conformance suite of a `RunOwnership` (the run-ownership port: one live run per child, a
 * fencing token per claim, one end per run). The in-process and the Redis + PostgreSQL
 * implementations both run it; an implementation whose claims expire passes an `expire` hook.
 *
 * @example
 * import * as vitest from 'vitest';
 * describeRunOwnershipConformance('MyOwnership', async () => ({ ownership: new MyOwnership(), expire: (runId) => myExpire(runId) }), vitest);
 */
export { describeRunOwnershipConformance } from './conformance/index.js';

/**
 * Types of the run-ownership conformance suite: its factory and what the factory returns.
 *
 * @example
 * const create: CreateRunOwnership = () => ({ ownership });
 */
export type { CreateRunOwnership, RunOwnershipUnderTest } from './conformance/index.js';

/**
 * Types of the conformance suites: the adapter factories, what an event-log factory returns, and
 * the slice of a test framework they use.
 *
 * @example
 * const create: CreateSessionStore = async () => ({ store: new MemorySessionStore() });
 * const createLog: CreateEventLog = async ({ retention }): Promise<EventLogUnderTest> => ({ log: new MemoryEventLog({ retention }) });
 */
export type { CreateSessionStore, CreateEventLog, EventLogUnderTest, ConformanceTestApi, ConformanceExpect } from './conformance/index.js';
