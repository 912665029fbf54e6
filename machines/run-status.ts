import { z } from 'zod';

/**
 * Every word for where a run is — one vocabulary, from which each view's subset is derived:
 * `pending` (saved by `spawnChild`, not queued yet), `queued`, `running`, and the four ends.
 *
 * @example
 * runStatusSchema.parse('running');
 */
export const runStatusSchema = z.enum(['pending', 'queued', 'running', 'completed', 'error', 'cancelled', 'skipped']);
/** A run status word. */
export type RunStatusWord = z.infer<typeof runStatusSchema>;

/** The ends a run can report in `sub_session_completed` (the wire subset). */
export const completionStatusSchema = runStatusSchema.extract(['completed', 'error', 'cancelled', 'skipped']);
/** A terminal run status on the wire. */
export type CompletionStatus = z.infer<typeof completionStatusSchema>;

/** `last_run_status` values written on a child session's metadata (the metadata subset). */
export const runStatusMetadataSchema = runStatusSchema.exclude(['queued']);
/** A `last_run_status` value. */
export type RunStatusMetadata = z.infer<typeof runStatusMetadataSchema>;

/** Where the scheduler's registry sees a run: queued, running, or ended (the live-view subset). */
export const liveRunStatusSchema = runStatusSchema.exclude(['pending']);
/** A run status as `getChild` / `waitForChildren` report it. */
export type LiveRunStatus = z.infer<typeof liveRunStatusSchema>;

const TERMINAL: ReadonlySet<string> = new Set<string>(completionStatusSchema.options);

/**
 * True for the four ends (`completed`, `error`, `cancelled`, `skipped`).
 *
 * @example
 * isTerminal('running'); // false
 */
export function isTerminal(status: string): status is CompletionStatus {
  // A Set lookup, not a zod parse: this runs on every forwarded event (a failed parse allocates).
  return TERMINAL.has(status);
}
