import { z } from 'zod';
import { schedulerLimitsSchema } from '../../machines/scheduler.events.js';
import { onParentEndSchema } from '../../machines/spawn-job.events.js';
import { DEFAULT_ON_PARENT_END } from '../core/on-parent-end.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import type { Clock } from '../clock.js';
import { SproutValidationError } from '../errors.js';
import type { EventLog } from '../streams/event-log.js';
import type { SessionStore, Spawner } from '../api/ports.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';

const hasMethods =
  (...names: string[]) =>
  (value: unknown) =>
    typeof value === 'object' && value !== null && names.every((name) => typeof (value as Record<string, unknown>)[name] === 'function');

/**
 * Options of {@link createSpawnScheduler}, checked with zod. Every limit has a default.
 *
 * @example
 * createSpawnScheduler({ store: new MemorySessionStore(), agent, concurrency: 4, clock: new SimulatedClock() });
 */
export const schedulerOptionsSchema = schedulerLimitsSchema.extend({
  /** Where sessions live. Required. */
  store: z.custom<SessionStore>(
    hasMethods('load', 'save', 'delete', 'listChildren'),
    'store must implement SessionStore (load, save, delete, listChildren)',
  ),
  /** Runs a child's agent loop. Required. */
  agent: z.custom<AgentRuntime>(hasMethods('execute'), 'agent must implement AgentRuntime (execute)'),
  /** Opaque tools handed to the agent. */
  tools: z.unknown().optional(),
  spawner: z
    .custom<Spawner>(hasMethods('spawnChild', 'waitForChildren'), 'spawner must implement Spawner (spawnChild, waitForChildren)')
    .optional(),
  /** The clock for every timer (XState `Clock`; tests pass `new SimulatedClock()`). @default the system clock */
  clock: z.custom<Clock>(hasMethods('setTimeout', 'clearTimeout'), 'clock must implement setTimeout and clearTimeout').optional(),
  /** XState inspection observer (e.g. `createBrowserInspector().inspect`). */
  inspect: z.unknown().optional(),
  /** Event log behind `events()`. @default a MemoryEventLog keeping `eventRetention` events per session */
  eventLog: z.custom<EventLog>(hasMethods('append', 'read'), 'eventLog must implement EventLog (append, read)').optional(),
  /** Events retained per session for replay (memory log). @default 1000 */
  eventRetention: z.number().int().min(0).default(1000),
  /** Ended runs kept in memory for `getChild` / `waitForChildren`. @default 10000 */
  retainEndedRuns: z.number().int().min(0).default(10_000),
  /**
   * Deprecated, ignored: every session's agent events are now published on its own stream and
   * forwarded up the tree (see docs/guides/agent-trees.md). Accepted so old options still parse.
   */
  mirrorChildEvents: z.boolean().default(false),
  /**
   * What a child's run does when its parent's run ends `cancelled` or `error` (timeouts
   * included), unless its spawn says otherwise: `cancel` it (reason `parent`) or `abandon` it.
   * @default 'cancel'
   */
  onParentEnd: onParentEndSchema.default(DEFAULT_ON_PARENT_END),
  /** See {@link SpawnSchedulerOptions.rememberHalts}. @default true */
  rememberHalts: z.boolean().default(true),
  /** What `start()` does with runs a crash left `running` / `pending`. @default 'interrupt' */
  recover: z.enum(['interrupt', 'requeue']).default('interrupt'),
  /** Id generator for runs and spawned children. @default crypto.randomUUID */
  createId: z.custom<() => string>((value) => typeof value === 'function', 'createId must be a function').optional(),
  /** Called with every diagnostic (also on `diagnostics$`). */
  onDiagnostic: z.custom<(diagnostic: SchedulerDiagnostic) => void>((value) => typeof value === 'function').optional(),
});

/** Options with defaults applied. */
export type ResolvedSchedulerOptions = z.output<typeof schedulerOptionsSchema>;

/** Parses options or throws a {@link SproutValidationError}. */
export function parseSchedulerOptions(options: unknown): ResolvedSchedulerOptions {
  const parsed = schedulerOptionsSchema.safeParse(options);
  if (!parsed.success) throw new SproutValidationError('scheduler options', parsed.error.issues);
  return parsed.data;
}
