import type { CompletionReason, CompletionStatus, Usage } from '../api/wire-types.js';

/** Where an observed run is: `queued` (announced), `running`, `waiting` for its children, or `ended`. */
export type ObservedRunState = 'queued' | 'running' | 'waiting' | 'ended';

/** One run as {@link observeRuns} saw it on the event streams. Times are readings of the observer's clock. */
export interface ObservedRun {
  /** The run's id. */
  runId: string;
  /** The session that runs (the child, or a root for its own run). */
  sessionId: string;
  /** The parent session (`''` for a root's own run). */
  parentSessionId: string;
  /** The run of the parent session that was current when this run was announced, when known. */
  parentRunId?: string | undefined;
  /** The title on `sub_session_started`. */
  title?: string | undefined;
  state: ObservedRunState;
  /** When the start was seen (`sub_session_started`, or the first sign of a run whose start was missed). */
  startedAt: number;
  /** False when the run was first seen after its announcement (its duration is then not known). */
  startSeen: boolean;
  /** Usage of the run's terminal `complete`, when it had one. */
  usage?: Usage | undefined;
  status?: CompletionStatus | undefined;
  reason?: CompletionReason | undefined;
  error?: string | undefined;
  endedAt?: number | undefined;
}

/** What {@link observeRuns} tells: a run appeared, changed state, or ended. `run` is a snapshot. */
export interface RunChange {
  type: 'started' | 'state' | 'ended';
  run: Readonly<ObservedRun>;
}
