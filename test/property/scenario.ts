import fc from 'fast-check';
import type { AgentOutcome, Thrown } from './chaos-agent.js';
import type { StoreFault } from './faulty-stores.js';

/** Session ids that are `Object.prototype` names, mixed with plain ones. */
export const PROTO_IDS = ['constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'] as const;
const SESSION_IDS = [...PROTO_IDS, 'root', 'a', 'b', 'c'] as const;
/** Ids `createId` hands out first (also `Object.prototype` names, never used by seeded sessions). */
export const GENERATED_PROTO_IDS = [
  'isPrototypeOf',
  'propertyIsEnumerable',
  'toLocaleString',
  '__defineGetter__',
  '__lookupSetter__',
] as const;
/** Ids of sessions that never exist. */
export const UNKNOWN_IDS = ['ghost', '__lookupGetter__'] as const;

/** A seeded session: roots first, then children whose parent comes earlier in the list. */
export interface SeededSession {
  id: string;
  /** Index of the parent in the seeded list; undefined for a root. */
  parent: number | undefined;
  /** The child's last message is the user's (else the assistant's: a run is `skipped`). */
  pending: boolean;
}

/**
 * One step of a scenario. `session` references a seeded child (modulo their count), `parent` any
 * seeded session, `enqueue-root` a seeded root enqueued as if it were a child.
 */
export type Command =
  | { op: 'enqueue'; session: number }
  | { op: 'enqueue-root'; session: number }
  | { op: 'enqueue-unknown'; unknown: number; parent: number }
  | { op: 'enqueue-wrong-parent'; session: number; parent: number }
  | { op: 'spawn'; parent: number }
  | { op: 'cancel'; session: number; spawned: boolean }
  | { op: 'cancel-tree'; parent: number }
  | { op: 'cancel-on-start'; session: number }
  | { op: 'wait'; parent: number; policy: 'all' | 'any' | 'first-error' }
  | { op: 'throwing-subscriber'; session: number }
  | { op: 'bad-input'; call: number }
  | { op: 'stop'; mode: 'drain' | 'cancel' }
  | { op: 'advance'; ms: number }
  | { op: 'flush' };

/** Scheduler options a scenario runs with. */
export interface ScenarioOptions {
  concurrency: number;
  perParentConcurrency: number;
  queueCapacity: number;
  heartbeatIntervalMs: number;
  maxRunMs: number | undefined;
  idleTimeoutMs: number | undefined;
  retainEndedRuns: number | undefined;
  /** An `inspect` observer and a `diagnostics$` subscriber that throw on every call. */
  throwingObservers: boolean;
}

/** One generated case. */
export interface Scenario {
  options: ScenarioOptions;
  sessions: SeededSession[];
  agent: AgentOutcome[];
  storeFaults: [number, StoreFault][];
  /** What recovery's `listByRunStatus` returns in `start()` (garbage), if anything. */
  startGarbage: { value: unknown } | undefined;
  commands: Command[];
}

const thrownArb: fc.Arbitrary<Thrown> = fc.constantFrom(
  'error',
  'string',
  'undefined',
  'null',
  'null-prototype',
  'throwing-toString',
  'number',
  'revoked-proxy',
  'abort-error',
);

const waitArb = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: fc.integer({ min: 1, max: 4000 }) });

/** One agent call's behaviour. */
export const agentOutcomeArb = (thrown: fc.Arbitrary<Thrown> = thrownArb): fc.Arbitrary<AgentOutcome> =>
  fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('complete' as const), events: fc.nat({ max: 4 }), waitMs: waitArb }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('reject' as const), thrown, events: fc.nat({ max: 3 }), waitMs: waitArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('throw-sync' as const), thrown }) },
    { weight: 2, arbitrary: fc.record({ kind: fc.constant('hang' as const), ignoreAbort: fc.boolean(), events: fc.nat({ max: 2 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalid-event' as const), waitMs: waitArb }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('unencodable-event' as const), waitMs: waitArb }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('emit-after-resolve' as const),
        events: fc.integer({ min: 1, max: 3 }),
        delayMs: fc.nat({ max: 2000 }),
      }),
    },
  );

const storeFaultArb: fc.Arbitrary<StoreFault> = fc.constantFrom('reject', 'throw', 'hang', 'garbage');

const sessionsArb = (ids: readonly string[]): fc.Arbitrary<SeededSession[]> =>
  fc
    .tuple(
      fc.shuffledSubarray([...ids], { minLength: 3, maxLength: 7 }),
      fc.integer({ min: 1, max: 2 }),
      fc.array(fc.tuple(fc.nat(), fc.boolean()), { minLength: 7, maxLength: 7 }),
    )
    .map(([ids, roots, shape]) =>
      ids.map((id, i) => {
        const [parentPick, notPending] = shape[i] ?? [0, false];
        // Mostly pending children; about one in six has already been answered.
        return i < roots
          ? { id, parent: undefined, pending: true }
          : { id, parent: parentPick % i, pending: !(notPending && parentPick % 6 === 0) };
      }),
    );

const optionsArb = (throwingObservers: boolean): fc.Arbitrary<ScenarioOptions> =>
  fc.record({
    concurrency: fc.integer({ min: 1, max: 4 }),
    perParentConcurrency: fc.integer({ min: 1, max: 4 }),
    queueCapacity: fc.integer({ min: 1, max: 6 }),
    heartbeatIntervalMs: fc.integer({ min: 500, max: 5000 }),
    maxRunMs: fc.option(fc.integer({ min: 200, max: 20_000 }), { nil: undefined }),
    idleTimeoutMs: fc.option(fc.integer({ min: 200, max: 20_000 }), { nil: undefined }),
    retainEndedRuns: fc.option(fc.constantFrom(0, 1, 3), { nil: undefined, freq: 4 }),
    throwingObservers: throwingObservers ? fc.boolean() : fc.constant(false),
  });

const ref = fc.nat({ max: 20 });

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ op: fc.constant('enqueue' as const), session: ref }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('enqueue-root' as const), session: ref }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('enqueue-unknown' as const), unknown: ref, parent: ref }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('enqueue-wrong-parent' as const), session: ref, parent: ref }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('spawn' as const), parent: ref }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('cancel' as const), session: ref, spawned: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('cancel-tree' as const), parent: ref }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel-on-start' as const), session: ref }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('wait' as const),
      parent: ref,
      policy: fc.constantFrom('all' as const, 'any' as const, 'first-error' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('throwing-subscriber' as const), session: ref }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('bad-input' as const), call: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stop' as const), mode: fc.constantFrom('drain' as const, 'cancel' as const) }) },
  { weight: 6, arbitrary: fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 6000 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'flush' as const }) },
);

/** Generator features that can be switched off (to look past a known failure while exploring). */
export interface ScenarioFeatures {
  storeFaults: boolean;
  startGarbage: boolean;
  outcomes: readonly AgentOutcome['kind'][] | undefined;
  /** Seeded sessions may use `Object.prototype` names. */
  protoIds: boolean;
  /** Values an agent may throw. */
  thrown: readonly Thrown[];
  /** Sometimes an `inspect` observer and a `diagnostics$` subscriber that throw. */
  throwingObservers: boolean;
  /** Store fault kinds to draw from. */
  faultKinds: readonly StoreFault[];
  /** Command kinds to leave out. */
  withoutCommands: readonly Command['op'][];
}

/** The scenario generator. */
export function scenarioArb(features: Partial<ScenarioFeatures> = {}): fc.Arbitrary<Scenario> {
  const outcomes = agentOutcomeArb(features.thrown ? fc.constantFrom(...features.thrown) : thrownArb);
  const outcomeArb = features.outcomes ? outcomes.filter((o) => features.outcomes?.includes(o.kind) ?? true) : outcomes;
  return fc.record({
    options: optionsArb(features.throwingObservers !== false),
    sessions: sessionsArb(features.protoIds === false ? ['root', 'a', 'b', 'c', 'd', 'e', 'f'] : SESSION_IDS),
    agent: fc.array(outcomeArb, { minLength: 1, maxLength: 6 }),
    storeFaults:
      features.storeFaults === false
        ? fc.constant([])
        : fc.array(fc.tuple(fc.nat({ max: 40 }), features.faultKinds ? fc.constantFrom(...features.faultKinds) : storeFaultArb), {
            maxLength: 3,
          }),
    startGarbage:
      features.startGarbage === false
        ? fc.constant(undefined)
        : fc.option(
            fc.constantFrom(undefined, null, 7, [null], 'x').map((value) => ({ value })),
            { nil: undefined, freq: 8 },
          ),
    commands: fc.array(features.withoutCommands ? commandArb.filter((c) => !(features.withoutCommands ?? []).includes(c.op)) : commandArb, {
      minLength: 1,
      maxLength: 25,
    }),
  });
}
