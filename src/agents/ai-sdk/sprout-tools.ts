import { z } from 'zod';
import type { Spawner } from '../../api/ports.js';
import { SproutError } from '../../errors.js';

/** What {@link aiSdkAgent} passes to its tools as `experimental_context`: the session being run. */
export interface SproutToolContext {
  sessionId: string;
  rootSessionId: string;
}

/** Options of {@link spawnSessionTool} and {@link waitChildrenTool}. */
export interface SproutToolOptions {
  /** The scheduler that runs the children (a `SpawnScheduler`, or a run's `request.spawner`). */
  scheduler: Spawner;
  /**
   * The parent the children are spawned under. @default the session the agent runs (from
   * `aiSdkAgent`'s tool context), so a child agent spawns grandchildren under itself
   */
  parentSessionId?: string | (() => string);
  /**
   * Children spawned so far, by parent id: `spawnSessionTool` records into it and
   * `waitChildrenTool` waits for those by default (so children that already ended count too).
   * {@link sproutTools} shares one between its two tools. @default none: wait for the children
   * still running
   */
  spawned?: Map<string, string[]>;
}

/** An AI SDK tool, structurally (the same object `tool({ … })` from `ai` returns; `ai` is not imported here). */
export interface SproutAiTool<Input, Output> {
  description: string;
  inputSchema: z.ZodType<Input>;
  execute: (input: Input, options: { abortSignal?: AbortSignal; experimental_context?: unknown }) => Promise<Output>;
}

/** A tool was called without a parent session to act on. */
export class MissingParentSessionError extends SproutError {
  constructor() {
    super('MISSING_PARENT_SESSION', 'spawn tools need parentSessionId, or must run inside aiSdkAgent (which passes the running session)');
  }
}

function parentOf(options: SproutToolOptions, context: unknown): string {
  const { parentSessionId } = options;
  if (typeof parentSessionId === 'function') return parentSessionId();
  if (typeof parentSessionId === 'string') return parentSessionId;
  const sessionId = (context as Partial<SproutToolContext> | undefined)?.sessionId;
  if (typeof sessionId === 'string' && sessionId !== '') return sessionId;
  throw new MissingParentSessionError();
}

const spawnInputSchema = z.strictObject({
  title: z.string().min(1).max(500).describe('Short title of the sub-task'),
  prompt: z.string().min(1).max(100_000).describe('Full instructions for the child agent'),
  responsibility: z.string().max(10_000).optional().describe('What the child is responsible for'),
  subagent_type: z.string().max(200).optional().describe('Kind of child agent (e.g. researcher)'),
  model: z.string().min(1).max(200).optional().describe('Model for the child (default: the parent’s)'),
  on_parent_end: z
    .enum(['cancel', 'abandon'])
    .optional()
    .describe('If this session fails or is cancelled: cancel the child (default) or let it run on (abandon)'),
});
/** Input of `spawn_session`. */
export type SpawnSessionInput = z.infer<typeof spawnInputSchema>;

/**
 * Bamboo's `spawn_session` for AI SDK agents: starts a child session in the background through
 * the scheduler and returns at once with its ids (the child runs on its own; its events reach the
 * parent's stream). Pair it with {@link waitChildrenTool} to collect the answers.
 *
 * @example
 * const agent = aiSdkAgent({ model, tools: { spawn_session: spawnSessionTool({ scheduler }), wait_children: waitChildrenTool({ scheduler }) } });
 */
export function spawnSessionTool(
  options: SproutToolOptions,
): SproutAiTool<SpawnSessionInput, { child_session_id: string; run_id: string; status: 'queued' }> {
  return {
    description:
      'Start a child agent session in the background for a well-defined sub-task. Returns immediately with the child session id; call wait_children to get its answer.',
    inputSchema: spawnInputSchema,
    async execute(input, { experimental_context }) {
      const parentSessionId = parentOf(options, experimental_context);
      const { childSessionId, runId } = await options.scheduler.spawnChild(parentSessionId, {
        title: input.title,
        prompt: input.prompt,
        ...(input.responsibility === undefined ? {} : { responsibility: input.responsibility }),
        ...(input.subagent_type === undefined ? {} : { subagentType: input.subagent_type }),
        ...(input.model === undefined ? {} : { model: input.model }),
        ...(input.on_parent_end === undefined ? {} : { onParentEnd: input.on_parent_end }),
      });
      if (options.spawned) options.spawned.set(parentSessionId, [...(options.spawned.get(parentSessionId) ?? []), childSessionId]);
      return { child_session_id: childSessionId, run_id: runId, status: 'queued' };
    },
  };
}

const waitInputSchema = z.strictObject({
  policy: z
    .enum(['all', 'any', 'first-error'])
    .optional()
    .describe('all (default): every child ended; any: the first ended; first-error: all ended or one failed'),
  child_session_ids: z.array(z.string().min(1)).max(1000).optional().describe('Children to wait for (default: every child still running)'),
});
/** Input of `wait_children`. */
export type WaitChildrenInput = z.infer<typeof waitInputSchema>;

/** One child in a `wait_children` result. */
export interface WaitChildrenEntry {
  child_session_id: string;
  run_id: string;
  status: string;
  result?: string;
  error?: string;
}

/**
 * `wait_children` for AI SDK agents: waits until the children spawned with
 * {@link spawnSessionTool} ended (per `policy`), and returns their status and final answers.
 *
 * @example
 * const tools = { spawn_session: spawnSessionTool({ scheduler }), wait_children: waitChildrenTool({ scheduler }) };
 */
export function waitChildrenTool(options: SproutToolOptions): SproutAiTool<WaitChildrenInput, { children: WaitChildrenEntry[] }> {
  return {
    description: 'Wait for child sessions started with spawn_session to finish, and get their answers or errors.',
    inputSchema: waitInputSchema,
    async execute(input, { experimental_context }) {
      const parentSessionId = parentOf(options, experimental_context);
      const childSessionIds = input.child_session_ids ?? options.spawned?.get(parentSessionId);
      const summaries = await options.scheduler.waitForChildren(parentSessionId, {
        ...(input.policy === undefined ? {} : { policy: input.policy }),
        ...(childSessionIds === undefined ? {} : { childSessionIds }),
      });
      return {
        children: summaries.map((summary) => ({
          child_session_id: summary.childSessionId,
          run_id: summary.runId,
          status: summary.status,
          ...(summary.result === undefined ? {} : { result: summary.result }),
          ...(summary.error === undefined ? {} : { error: summary.error }),
        })),
      };
    },
  };
}

/**
 * Both tools under Bamboo's names, ready for `aiSdkAgent({ tools })`. They share a record of
 * the children spawned, so `wait_children` without ids waits for all of them, ended or not.
 *
 * @example
 * const agent = aiSdkAgent({ model, tools: sproutTools({ scheduler }) });
 */
export function sproutTools(options: SproutToolOptions): {
  spawn_session: ReturnType<typeof spawnSessionTool>;
  wait_children: ReturnType<typeof waitChildrenTool>;
} {
  const shared = { ...options, spawned: options.spawned ?? new Map<string, string[]>() };
  return { spawn_session: spawnSessionTool(shared), wait_children: waitChildrenTool(shared) };
}
