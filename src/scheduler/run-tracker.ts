import { agentEventSchema, type AgentEvent } from '../../machines/agent-event.events.js';
import { isRootJob, type SpawnJob } from '../../machines/spawn-job.events.js';
import { describeCause } from '../../machines/spawn-job.events.js';
import { InvalidAgentEventError } from '../errors.js';
import type { SessionEventHub, StreamLink } from '../streams/session-event-hub.js';

/** A token-like event checked without zod (the hot path of a token stream). */
function fastPathEvent(event: unknown): AgentEvent | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const candidate = event as { type?: unknown; content?: unknown };
  if ((candidate.type === 'token' || candidate.type === 'reasoning_token') && typeof candidate.content === 'string') {
    return { type: candidate.type, content: candidate.content };
  }
  return undefined;
}

/**
 * Validates one agent event; returns the clean copy to forward or an error text. Besides the
 * schema, an event must be JSON (what every log and wire carries): a BigInt, a cycle, a throwing
 * getter or a revoked Proxy anywhere in it is refused. Never throws.
 */
export function checkAgentEvent(event: unknown): { ok: true; event: AgentEvent } | { ok: false; error: string } {
  try {
    const fast = fastPathEvent(event);
    if (fast) return { ok: true, event: fast };
    const parsed = agentEventSchema.safeParse(event);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
      return { ok: false, error: `${issue?.message ?? 'invalid event'}${where}` };
    }
    // A JSON round trip: refuses what no log can store and gives a copy the agent cannot mutate.
    return { ok: true, event: JSON.parse(JSON.stringify(parsed.data)) as AgentEvent };
  } catch (error) {
    return { ok: false, error: `event is not JSON-serializable (${describeCause(error)})` };
  }
}

/** What a tracker reports when the agent misbehaves after the run closed. */
export type TrackerDiagnostic = { kind: 'late_event'; runId: string; childSessionId: string; event: unknown };

/**
 * The live side of one run: publishes the agent's events on the session's own stream (the hub
 * forwards them to the parent's stream as `sub_session_event`, and on up the tree; no XState
 * transition per event), counts them for heartbeats and the idle check, and turns an invalid
 * event into a run failure. The agent's own terminal events (`complete`, `error`) are held back:
 * the run publishes exactly one terminal event when it ends (with the usage the agent reported).
 * Closed when `running` is left: from then on events are dropped and reported, so nothing of a
 * run follows its completion.
 *
 * @example
 * const tracker = new RunTracker(job, 'r1', hub, clock.now, report);
 * tracker.emit({ type: 'token', content: 'Hel' }); // on the child's stream; forwarded to the parent
 */
export class RunTracker {
  readonly job: SpawnJob;
  readonly runId: string;
  eventsSeen = 0;
  lastEventAt: number | undefined;
  readonly startedAt: number;
  #open = true;
  #fail: ((error: Error) => void) | undefined;
  #abort: (() => void) | undefined;
  readonly #hub: SessionEventHub;
  readonly #now: () => number;
  readonly #report: (diagnostic: TrackerDiagnostic) => void;

  /** The usage of the agent's last `complete` event (published with the run's terminal event). */
  usage: unknown;
  /** The children the run waits for while it gave its slot back (on its heartbeats). */
  waitingOn: readonly string[] | undefined;

  /** Where this run's events are forwarded (its parent, under this run); none for a root's own run. */
  readonly #link: StreamLink | undefined;

  constructor(job: SpawnJob, runId: string, hub: SessionEventHub, now: () => number, report: (diagnostic: TrackerDiagnostic) => void) {
    this.job = job;
    this.runId = runId;
    this.#link = isRootJob(job) ? undefined : { parentSessionId: job.parentSessionId, runId };
    this.#hub = hub;
    this.#now = now;
    this.#report = report;
    this.startedAt = now();
  }

  /** True until the run left `running`. */
  get isOpen(): boolean {
    return this.#open;
  }

  /** Registers how to fail the run (the agent actor's reject). */
  onFailure(fail: (error: Error) => void): void {
    this.#fail = fail;
  }

  /**
   * The `emit` handed to the agent. Safe to call at any time, with anything; never throws. A bad
   * event fails the run (it ends `error` with the reason) and is neither counted nor published.
   */
  readonly emit = (event: AgentEvent): void => {
    try {
      if (!this.#open) {
        this.#report({ kind: 'late_event', runId: this.runId, childSessionId: this.job.childSessionId, event });
        return;
      }
      const checked = checkAgentEvent(event);
      if (!checked.ok) {
        this.#fail?.(new InvalidAgentEventError(checked.error));
        return;
      }
      const clean = checked.event;
      if (clean.type === 'complete' || clean.type === 'error') {
        // The run's one terminal event is published when it ends; keep what it reports.
        if (clean.type === 'complete') this.usage = clean.usage;
      } else if (this.#hub.publish(this.job.childSessionId, clean, this.#link) === undefined) return;
      this.eventsSeen += 1;
      this.lastEventAt = this.#now();
    } catch (error) {
      // Only a failing diagnostic hook or log can land here: never into the agent.
      this.#fail?.(new InvalidAgentEventError(`event could not be published (${describeCause(error)})`));
    }
  };

  /** Time of the last progress (the last event, the end of a wait, or the start of the run). */
  lastProgressAt(): number {
    return Math.max(this.lastEventAt ?? this.startedAt, this.#resumedAt ?? 0);
  }

  #resumedAt: number | undefined;

  /** Counts now as progress: the idle limit restarts after the run waited for its children. */
  markProgress(): void {
    this.#resumedAt = this.#now();
  }

  /** Registers how to abort the agent (used when the job actor itself crashed). */
  onAbort(abort: () => void): void {
    this.#abort = abort;
  }

  /** Aborts the agent, if it is still running. */
  abort(): void {
    this.#abort?.();
  }

  /** Stops forwarding. */
  close(): void {
    this.#open = false;
    this.#fail = undefined;
  }
}
