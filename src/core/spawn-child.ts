import { METADATA_KEYS } from '../../machines/session.schema.js';
import type { LineageLink } from '../../machines/scheduler.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { OnParentEnd, SpawnBrief, SpawnJob } from '../../machines/spawn-job.events.js';
import type { MaybePromise, SessionStore } from '../api/ports.js';
import { toRfc3339, type SproutClock } from '../clock.js';
import { SessionNotFoundError, SpawnDepthExceededError } from '../errors.js';
import { buildChildSession } from './build-child-session.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { loadValidSession } from './persist-run.js';
import { markAbandons } from './on-parent-end.js';
import type { EnqueueResult } from '../api/scheduler-types.js';

/**
 * What `spawnChild` needs from a deployment. `L` is what the deployment carries with a run about
 * the runs above it (the embedded scheduler's lineage, a distributed job's ancestor links).
 */
export interface SpawnChildDeps<L = LineageLink[]> {
  store: SessionStore;
  clock: SproutClock;
  maxDepth: number;
  createId(): string;
  /** Throws `SchedulerStoppedError` unless the scheduler accepts work. */
  assertRunning(): void;
  /** The scheduler's `onParentEnd` (for a brief that does not say). */
  onParentEnd: OnParentEnd;
  /** The ancestors of a run under this parent, parent first (the parent as loaded is given). */
  lineage(parentSessionId: string, parent: Session): MaybePromise<L>;
  /** Remembers where the new child hangs in its tree (for its own children's lineage). */
  remember(child: Session): void;
  /** True while the session has a queued or running run (from the run-ownership records). */
  isLive(sessionId: string): MaybePromise<boolean>;
  /**
   * True when a run of the child other than `plannedRunId` was announced (a run of another caller
   * that may have ended already, its saves still in flight); optional.
   */
  announced?(parentSessionId: string, childSessionId: string, plannedRunId: string): MaybePromise<boolean>;
  /** Queues a run of the child under the given run id. */
  enqueue(job: SpawnJob, title: string | undefined, runId: string, lineage: L): Promise<EnqueueResult>;
  report(diagnostic: SchedulerDiagnostic): void;
}

/**
 * `spawnChild` after its arguments were checked: loads the parent, checks the depth, saves the
 * child session (with the run id it will run under, so a crash while it is queued is reported
 * under the same run id `sub_session_started` carries), then queues its run. When the run is
 * refused after the save (a stop, or an announcement the log refused), the child is deleted —
 * unless someone else ran it meanwhile (its stored run is not the one planned here, it has a live
 * run, or the parent's stream announces a run of it): nothing stays
 * behind as `pending`, and nobody's answer is lost.
 *
 * @example
 * const { childSessionId, runId } = await spawnChild(deps, 'root', { title: 'Research', prompt: 'Find X' });
 */
export async function spawnChild<L>(
  deps: SpawnChildDeps<L>,
  parentSessionId: string,
  brief: SpawnBrief,
): Promise<{ childSessionId: string; runId: string }> {
  const parent = await loadValidSession(deps.store, parentSessionId);
  if (!parent) throw new SessionNotFoundError(parentSessionId, 'parent session');
  const depth = parent.spawn_depth + 1;
  if (depth > deps.maxDepth) throw new SpawnDepthExceededError(depth, deps.maxDepth);
  deps.assertRunning();
  const child = buildChildSession({
    id: deps.createId(),
    parent,
    brief,
    now: toRfc3339(deps.clock.now()),
    newMessageId: () => deps.createId(),
  });
  const plannedRunId = deps.createId();
  child.metadata[METADATA_KEYS.runId] = plannedRunId;
  const onParentEnd = brief.onParentEnd ?? deps.onParentEnd;
  if (onParentEnd === 'abandon') markAbandons(child);
  const lineage = await deps.lineage(parentSessionId, parent);
  await deps.store.save(child);
  deps.remember(child);
  try {
    const { runId } = await deps.enqueue(
      { parentSessionId, childSessionId: child.id, model: child.model, onParentEnd },
      child.title,
      plannedRunId,
      lineage,
    );
    return { childSessionId: child.id, runId };
  } catch (error) {
    try {
      // Only a child nobody else ran: another caller may have enqueued it meanwhile (it is in the
      // store, under its parent), and its run, answer and history must not be lost.
      const stored = await loadValidSession(deps.store, child.id);
      const untouched =
        stored !== undefined &&
        !(await deps.isLive(child.id)) &&
        stored.metadata[METADATA_KEYS.runId] === plannedRunId &&
        stored.metadata[METADATA_KEYS.status] === 'pending' &&
        // A run someone else queued and that ended already (its metadata save still in flight).
        !(await deps.announced?.(parentSessionId, child.id, plannedRunId));
      if (untouched) await deps.store.delete(child.id);
    } catch (deleteError) {
      deps.report({ kind: 'recovery_failed', childSessionId: child.id, error: deleteError });
    }
    throw error;
  }
}
