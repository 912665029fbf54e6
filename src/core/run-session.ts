import type { LineageLink } from '../../machines/scheduler.events.js';
import { METADATA_KEYS } from '../../machines/session.schema.js';
import { ROOT_PARENT, onParentEndSchema, type OnParentEnd, type SpawnJob } from '../../machines/spawn-job.events.js';
import type { MaybePromise, SessionStore } from '../api/ports.js';
import type { Session } from '../../machines/session.schema.js';
import { toRfc3339, type SproutClock } from '../clock.js';
import { SessionBusyError, SessionNotFoundError } from '../errors.js';
import { loadValidSession } from './persist-run.js';
import type { RunInput } from './scheduler-args.js';
import { ON_PARENT_END_KEY } from './on-parent-end.js';
import type { EnqueueResult } from '../api/scheduler-types.js';

/**
 * What `run` needs from a deployment. `L` is what the deployment carries with a run about the
 * runs above it (the embedded scheduler's lineage, a distributed job's ancestor links).
 */
export interface RunSessionDeps<L = LineageLink[]> {
  store: SessionStore;
  clock: SproutClock;
  createId(): string;
  onParentEnd: OnParentEnd;
  /** The session's queued or running run, if any (from the run-ownership records). */
  liveRunId(sessionId: string): MaybePromise<string | undefined>;
  /** Sessions between the busy check and their enqueue (so two messages cannot both pass it). */
  starting: Map<string, string>;
  /** What the run carries about the runs above it; `none` for a root's own run. */
  lineage(parentSessionId: string, session: Session): MaybePromise<L>;
  none: L;
  enqueue(job: SpawnJob, title: string | undefined, runId: string, lineage: L): Promise<EnqueueResult>;
  /**
   * Refuses the run before anything is written (a full queue: `QueueFullError`; the session's tree
   * being deleted: `SessionNotFoundError`); optional.
   */
  admit?(sessionId: string): Promise<void>;
}

/**
 * An `enqueue` refusal after which nothing of the run was queued: the queue was full. (A session
 * whose tree is being deleted is refused too, but it is not put back: that would store it again.)
 */
const queueWasFull = (error: unknown): boolean =>
  typeof error === 'object' && error !== null && (error as { code?: unknown }).code === 'QUEUE_FULL';

/**
 * `run(sessionId, { message })` after its arguments were checked: appends the user message to the
 * session (root or child) and queues a run of its agent through the same job machine and limits
 * as any child. A root's own run has no parent: its events and its one terminal event go to its
 * own stream only. Refuses with `SessionBusyError` while the session has a queued or running run
 * (nothing is appended), with `SessionNotFoundError` for an unknown session, and with the
 * deployment's refusal (`QueueFullError` of a full distributed queue) before anything is written.
 * When the queue refuses the run after the message was saved (another front door took the last
 * room meanwhile), the session is put back as it was, unless someone saved it since.
 *
 * @example
 * const { runId } = await runSession(deps, 'root', { message: 'Plan a trip to Lisbon' });
 */
export async function runSession<L>(deps: RunSessionDeps<L>, sessionId: string, input: RunInput): Promise<{ runId: string }> {
  // Marked as starting before anything is awaited: two messages racing the busy check cannot both pass it.
  const starting = deps.starting.get(sessionId);
  if (starting !== undefined) throw new SessionBusyError(sessionId, starting);
  const runId = deps.createId();
  deps.starting.set(sessionId, runId);
  try {
    const busy = await deps.liveRunId(sessionId);
    if (busy !== undefined) throw new SessionBusyError(sessionId, busy);
    const session = await loadValidSession(deps.store, sessionId);
    if (!session) throw new SessionNotFoundError(sessionId);
    const live = await deps.liveRunId(sessionId);
    if (live !== undefined) throw new SessionBusyError(sessionId, live);
    await deps.admit?.(sessionId);
    const before = structuredClone(session);
    const now = toRfc3339(deps.clock.now());
    session.messages.push({ id: deps.createId(), role: 'user', content: input.message, created_at: now });
    if (input.model !== undefined) session.model = input.model;
    session.metadata[METADATA_KEYS.status] = 'pending';
    session.metadata[METADATA_KEYS.runId] = runId;
    delete session.metadata[METADATA_KEYS.error];
    session.updated_at = now;
    const isRoot = session.kind === 'root' || session.parent_session_id === undefined;
    const parentSessionId = isRoot ? ROOT_PARENT : (session.parent_session_id as string);
    const stored = onParentEndSchema.safeParse(session.metadata[ON_PARENT_END_KEY]);
    const job: SpawnJob = {
      parentSessionId,
      childSessionId: session.id,
      model: session.model,
      ...(isRoot ? {} : { onParentEnd: stored.success ? stored.data : deps.onParentEnd }),
    };
    const lineage = isRoot ? deps.none : await deps.lineage(parentSessionId, session);
    await deps.store.save(session);
    let result: EnqueueResult;
    try {
      result = await deps.enqueue(job, session.title, runId, lineage);
    } catch (error) {
      if (queueWasFull(error)) await putBack(deps.store, before, session.version, deps.admit?.bind(deps));
      throw error;
    }
    if (result.deduplicated) throw new SessionBusyError(sessionId, result.runId);
    return { runId: result.runId };
  } finally {
    if (deps.starting.get(sessionId) === runId) deps.starting.delete(sessionId);
  }
}

/**
 * Saves the session as it was before `run` appended its message (versioned: a save made since
 * wins). Best effort: when it fails the session keeps the message, stored `pending`, and the
 * deployment's reconciliation (or the next message) picks it up.
 */
async function putBack(
  store: SessionStore,
  before: Session,
  version: number | undefined,
  admit: ((sessionId: string) => Promise<void>) | undefined,
): Promise<void> {
  if (version === undefined) return;
  try {
    // Only the session as `run` saved it: not one deleted or saved by someone else since.
    if ((await store.load(before.id))?.version !== version) return;
    await store.save({ ...before, version });
    // A versioned save of a row deleted meanwhile stores it again: a tree delete marks its
    // sessions before it deletes them, so asking the queue again tells, and the copy goes.
    await admit?.(before.id).catch(async (error: unknown) => {
      if ((error as { code?: unknown }).code === 'SESSION_NOT_FOUND') await store.delete(before.id);
    });
  } catch {
    // Someone saved the session since, or the store is away: it stays as it is.
  }
}
