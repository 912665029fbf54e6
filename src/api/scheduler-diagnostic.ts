/**
 * Something went wrong outside any run's own outcome: a subscriber threw, an agent emitted after
 * its run ended, a run lost its reservation, recovery could not end a run. Reported on
 * `scheduler.diagnostics$` (never swallowed, never thrown into the scheduler).
 */
export type SchedulerDiagnostic =
  | { kind: 'subscriber_error'; error: unknown }
  | { kind: 'late_event'; runId: string; childSessionId: string; event: unknown }
  | { kind: 'duplicate_run'; runId: string; childSessionId: string }
  | { kind: 'job_crashed'; runId: string; childSessionId: string; error: unknown }
  | { kind: 'recovery_failed'; childSessionId: string; error: unknown }
  | { kind: 'event_log_error'; error: unknown }
  /** The `inspect` observer threw; the event it was given is dropped for it, nothing else changes. */
  | { kind: 'inspector_error'; error: unknown }
  /**
   * Runs wait for a slot (`queued` in the queue, `resuming` after their wait for children) and no
   * run holds one, so nothing could free one. Never expected: waiting runs give their slot back.
   */
  | { kind: 'scheduler_starved'; queued: number; resuming: number };
