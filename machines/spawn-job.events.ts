import { z } from 'zod';
import type { CompletionReason } from './agent-event.events.js';
import type { CompletionStatus } from './run-status.js';
import type { RunStatusMetadata, Session } from './session.schema.js';

/**
 * What happens to a run when its parent's run ends `cancelled` or `error` (a timeout included):
 * `cancel` (the default) cancels it with reason `parent`; `abandon` lets it run on. A parent that
 * ends `completed` leaves its children running either way.
 */
export const onParentEndSchema = z.enum(['cancel', 'abandon']);
/** A run's parent-end policy. */
export type OnParentEnd = z.infer<typeof onParentEndSchema>;

/**
 * A request to run one child session under its parent (the input of `enqueue`).
 *
 * @example
 * spawnJobSchema.parse({ parentSessionId: 'root', childSessionId: 'child-1', model: 'gpt-4o' });
 */
export const spawnJobSchema = z.strictObject({
  parentSessionId: z.string().min(1),
  childSessionId: z.string().min(1),
  model: z.string().min(1),
  /** What this run does when its parent's run ends `cancelled` or `error`. @default the scheduler's `onParentEnd` */
  onParentEnd: onParentEndSchema.optional(),
});
/** A spawn job. */
export type SpawnJob = z.infer<typeof spawnJobSchema>;

/**
 * The `parentSessionId` of a root session's own run (`scheduler.run` on a root): a root has no
 * parent, so its run publishes no `sub_session_*` event and counts toward no per-parent limit.
 * Public input can never name it (`spawnJobSchema` wants a non-empty id).
 */
export const ROOT_PARENT = '';

/** True for the own run of a root session (no parent). */
export function isRootJob(job: Pick<SpawnJob, 'parentSessionId'>): boolean {
  return job.parentSessionId === ROOT_PARENT;
}

/**
 * What a parent asks a child to do (the input of `spawnChild`).
 *
 * @example
 * spawnBriefSchema.parse({ title: 'Research', prompt: 'Find three sources on X' });
 */
export const spawnBriefSchema = z.strictObject({
  title: z.string().min(1).max(500),
  prompt: z.string().min(1),
  responsibility: z.string().min(1).optional(),
  subagentType: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  /** What the child's run does when the parent's run ends `cancelled` or `error`. @default the scheduler's `onParentEnd` */
  onParentEnd: onParentEndSchema.optional(),
});
/** A spawn brief. */
export type SpawnBrief = z.infer<typeof spawnBriefSchema>;

/** Time limits of one run, in milliseconds. `undefined` means no limit. */
export interface JobLimits {
  heartbeatIntervalMs: number;
  /** Wall-clock limit of the whole job, from `loading` to its end (every phase). */
  maxRunMs?: number | undefined;
  idleTimeoutMs?: number | undefined;
  /**
   * How long a cancelled job waits for a store call already in flight (load or save) before it
   * ends without it. `undefined` means the default of the runtime (1000 ms).
   */
  cancelGraceMs?: number | undefined;
}

/** Input of the spawn-job machine. */
export interface SpawnJobInput {
  job: SpawnJob;
  runId: string;
  limits: JobLimits;
  /** Set when the run was cancelled while still queued: it ends `cancelled` without running. */
  cancelRequest?: { reason: CompletionReason } | undefined;
}

/**
 * Every way a job can end. `duplicate` and `discarded` publish nothing and write nothing:
 * `duplicate` lost the reservation to another run of its child, `discarded` was never announced
 * (its `sub_session_started` could not be written, so its `enqueue` was rejected).
 */
export type JobEndStatus = CompletionStatus | 'duplicate' | 'discarded';

/** Error codes of a job that ended in `error` (data, not exceptions). */
export type JobErrorCode =
  | 'CHILD_NOT_FOUND'
  | 'CHILD_LOAD_FAILED'
  | 'CHILD_NOT_KIND_CHILD'
  | 'CHILD_WRONG_PARENT'
  | 'SESSION_NOT_ROOT'
  | 'RESERVE_FAILED'
  | 'AGENT_FAILED'
  | 'RUN_TIMEOUT'
  | 'RUN_IDLE'
  | 'STORE_SAVE_FAILED'
  | 'JOB_CRASHED'
  | 'NO_OUTCOME';

/**
 * How a run ended: the job's output and the content of its completion, keyed on `status` (each
 * status carries exactly the fields it can have).
 */
export type JobOutcome =
  | { status: 'completed'; result?: string | undefined }
  | { status: 'error'; code: JobErrorCode; error: string; reason?: 'timeout' | 'idle' | undefined }
  | { status: 'cancelled'; reason: CompletionReason }
  | { status: 'skipped'; error: string }
  | { status: 'duplicate' }
  | { status: 'discarded' };

/** The optional completion fields of an outcome, whatever its status. */
export function outcomeFields(outcome: JobOutcome): { error?: string; reason?: CompletionReason; result?: string } {
  const fields: { error?: string; reason?: CompletionReason; result?: string } = {};
  if ('error' in outcome) fields.error = outcome.error;
  if ('reason' in outcome && outcome.reason !== undefined) fields.reason = outcome.reason;
  if ('result' in outcome && outcome.result !== undefined) fields.result = outcome.result;
  return fields;
}

/**
 * Error codes of a run that never ran as its session (the session is missing, unreadable, or not
 * the one the job names): such a run halts nothing and publishes nothing on the session's own
 * stream, because the session may belong to someone else.
 */
export const LOAD_ERROR_CODES: ReadonlySet<JobErrorCode> = new Set<JobErrorCode>([
  'CHILD_NOT_FOUND',
  'CHILD_LOAD_FAILED',
  'CHILD_NOT_KIND_CHILD',
  'CHILD_WRONG_PARENT',
  'SESSION_NOT_ROOT',
]);

/** Output of the spawn-job machine (its final state's data). */
export type SpawnJobOutput = JobOutcome & {
  runId: string;
  parentSessionId: string;
  childSessionId: string;
};

/** Context of the spawn-job machine. */
export interface SpawnJobContext {
  job: SpawnJob;
  runId: string;
  limits: JobLimits;
  session?: Session | undefined;
  cancelRequest?: { reason: CompletionReason } | undefined;
  outcome?: JobOutcome | undefined;
}

/**
 * Events the spawn-job machine accepts from outside.
 * - `job.cancel`: end the run `cancelled` (at the next step; a store call in flight gets a grace).
 * - `job.abandon`: the cancel grace ran out: end now without waiting for the store call.
 * - `job.timeout`: `maxRunMs` ran out (sent by the runtime's deadline timer).
 * - `job.discard`: the run was never announced; end silently (`discarded`).
 * - `job.wait` / `job.resume`: the run gave its slot back to wait for its children / took one again.
 */
export type SpawnJobEvent =
  | { type: 'job.cancel'; reason: CompletionReason }
  | { type: 'job.abandon' }
  | { type: 'job.timeout' }
  | { type: 'job.discard' }
  /** The run waits for its children: its slot is given back (idle watch paused) until `job.resume`. */
  | { type: 'job.wait' }
  /** The run holds a slot again: its agent continues (idle watch re-armed). */
  | { type: 'job.resume' }
  | SpawnJobResultEvent;

/**
 * What the runtime sends back when the I/O a state started (its entry action) settles: the job
 * machine invokes no actors, so one job is one actor (no promise actor per phase).
 */
export type SpawnJobResultEvent =
  /** `loadChild` answered: the child, or `undefined` when it does not exist. */
  | { type: 'job.loaded'; session: Session | undefined }
  | { type: 'job.loadFailed'; error: unknown }
  /** `reserveRun` answered: whether this run now owns the child. */
  | { type: 'job.reserved'; reserved: boolean }
  | { type: 'job.reserveFailed'; error: unknown }
  /** The save the current state started (`saveSkipped`, `saveRunning`, `saveFinal`) is written. */
  | { type: 'job.saved' }
  | { type: 'job.saveFailed'; error: unknown }
  /** `runAgent`: the agent resolved or rejected (only heard in `running`). */
  | { type: 'job.agentDone' }
  | { type: 'job.agentFailed'; error: unknown };

/** Input of the `saveSession` actor: the session plus the metadata to write on it. */
export interface SaveSessionInput {
  session: Session;
  runId: string;
  status: RunStatusMetadata;
  error?: string | undefined;
}

/** Result of reserving a run in the registry. */
export interface ReserveResult {
  reserved: boolean;
}

/** Exact error texts of the contract (docs/job-lifecycle.md). */
export const jobErrorText = {
  notFound: 'child session not found',
  loadFailed: (cause: string): string => `failed to load child session: ${cause}`,
  notChild: 'spawn job child session is not kind=child',
  notRoot: 'session is not kind=root (run a child session under its parent)',
  wrongParent: (child: string, parent: string): string => `child session ${child} does not belong to parent ${parent}`,
  noPendingMessage: 'No pending message to execute',
  timedOut: (ms: number): string => `child session timed out after ${ms} ms`,
  idle: (ms: number): string => `child session idle for ${ms} ms`,
  saveFailed: (cause: string): string => `failed to save child session: ${cause}`,
  /** The cause in `saveFailed` when a cancelled run's final save did not answer within the grace. */
  saveAbandoned: 'the store did not answer before the cancelled run had to end',
} as const;

/**
 * Turns anything thrown into a one-line message. Total: never throws, whatever the value (an
 * object with no prototype, a `toString` that throws, a revoked Proxy, a cycle, a BigInt).
 *
 * @example
 * describeCause(new Error('boom')); // 'boom'
 * describeCause(Object.create(null)); // '{}'
 */
export function describeCause(cause: unknown): string {
  try {
    if (cause instanceof Error) return typeof cause.message === 'string' ? cause.message : describeCause(cause.message);
    if (typeof cause === 'string') return cause;
  } catch {
    // A revoked Proxy throws on `instanceof`: fall through to the generic forms.
  }
  try {
    const json = JSON.stringify(cause);
    if (json !== undefined) return json;
  } catch {
    // Not JSON: a cycle, a BigInt, a throwing getter or a revoked Proxy.
  }
  try {
    return String(cause);
  } catch {
    return `unprintable ${cause === null ? 'null' : typeof cause} value`;
  }
}
