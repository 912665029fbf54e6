import type { JobsOptions } from 'bullmq';
import { z } from 'zod';
import { METADATA_KEYS, type Session } from '../../machines/session.schema.js';
import { onParentEndSchema } from '../../machines/spawn-job.events.js';
import type { AncestorLink } from '../api/scheduler-types.js';
import { ancestorLinkSchema, MAX_ANCESTOR_LINKS } from '../core/scheduler-args.js';

/** What a BullMQ job of the run queue carries. The job id is the run id. */
export const runJobSchema = z.object({
  runId: z.string().min(1),
  /** The parent session, or '' for a root's own run. */
  parentSessionId: z.string(),
  childSessionId: z.string().min(1),
  model: z.string().min(1),
  title: z.string().optional(),
  /** What the run does when its parent's run ends `cancelled` or `error` (absent: `cancel`). */
  onParentEnd: onParentEndSchema.optional(),
  /**
   * The W3C `traceparent` of the span active when the front door queued the run (absent without
   * an OpenTelemetry SDK): a worker runs the job in `contextOfTraceparent(traceparent)` so the
   * run's spans continue that trace.
   */
  traceparent: z.string().max(64).optional(),
  /**
   * The running runs above the parent, parent first, up to the root's child (absent when the
   * parent is a root, and in jobs queued before it existed): the worker hands them to its embedded
   * scheduler (`enqueue(job, { ancestors })`) so the run's stream reaches the root's wrapped once
   * per level, wherever those runs run (see {@link ancestorLinksOf}).
   */
  ancestors: z.array(ancestorLinkSchema).max(MAX_ANCESTOR_LINKS).optional(),
  /**
   * The `maxDepth` of the process that queued the run (absent in jobs queued before it existed): a
   * worker configured with another one reports a `config_mismatch` diagnostic (each process
   * applies its own; a deployment's processes should share one).
   */
  maxDepth: z.number().int().min(0).max(1000).optional(),
});

/** One run as the queue holds it. */
export type RunJobData = z.infer<typeof runJobSchema>;

/** The BullMQ name of run jobs. */
export const RUN_JOB_NAME = 'run';

/**
 * How run jobs are added. A processor never fails a run on purpose (it delays it), so attempts
 * and the backoff only matter when Redis itself refused to delay it. Finished jobs are kept an
 * hour (at most 100,000 of them), so that adding the same run again after a worker died halfway
 * through a requeue is a no-op, while Redis memory stays bounded.
 */
export const RUN_JOB_OPTIONS: JobsOptions = {
  attempts: 1000,
  backoff: { type: 'sprout' },
  removeOnComplete: { age: 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** The backoff of a run job whose processor failed (`backoff: { type: 'sprout' }`): 0.5 s doubling to 30 s. */
export function runBackoffMs(attempts: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(Math.max(0, attempts - 1), 6));
}

/**
 * The links of the running runs above a child of `parent`, parent first: for each session from
 * the parent up that has a parent and whose run is running (per its stored metadata), its parent
 * and that run; the walk stops at a root, at a session not running, after `maxLinks`, or at a
 * cycle. A parent that is a root gives `[]` without a read; a session whose parent is a root
 * (`spawn_depth` 1) ends the walk without reading that root.
 *
 * @example
 * const ancestors = await ancestorLinksOf(parent, (id) => loadValidSession(store, id), 4);
 * // child of C (running 'run-c') under the root R: [{ sessionId: 'C', parentSessionId: 'R', runId: 'run-c' }]
 */
export async function ancestorLinksOf(
  parent: Session,
  load: (sessionId: string) => Promise<Session | undefined>,
  maxLinks: number,
): Promise<AncestorLink[]> {
  const links: AncestorLink[] = [];
  const seen = new Set<string>();
  let session: Session | undefined = parent;
  while (session !== undefined && links.length < Math.min(maxLinks, MAX_ANCESTOR_LINKS) && !seen.has(session.id)) {
    seen.add(session.id);
    const parentSessionId = session.parent_session_id;
    const runId = session.metadata[METADATA_KEYS.runId];
    if (session.kind === 'root' || parentSessionId === undefined || parentSessionId === session.id) break;
    if (session.metadata[METADATA_KEYS.status] !== 'running' || runId === undefined || runId === '') break;
    links.push({ sessionId: session.id, parentSessionId, runId });
    if (session.spawn_depth <= 1 || seen.has(parentSessionId)) break;
    session = await load(parentSessionId);
  }
  return links;
}

/** How many root ids {@link createAncestorLookup} remembers. */
const KNOWN_ROOTS = 10_000;

/**
 * The front door's {@link ancestorLinksOf} for the runs it queues. A parent it has (`spawnChild`
 * loaded it) costs no read; for a parent given by id (`enqueue`), one read, shared by concurrent
 * calls, unless the parent is known to be a root (a session's kind never changes: roots seen are
 * remembered, so the runs of a root's children cost no read after the first). A read that fails
 * is reported and the run is queued without links (its stream then reaches its parent's only).
 *
 * @example
 * const ancestorsUnder = createAncestorLookup({ load: (id) => loadValidSession(store, id), maxLinks: 4, onError: console.error });
 * const ancestors = await ancestorsUnder('child-1');
 */
export function createAncestorLookup(deps: {
  load: (sessionId: string) => Promise<Session | undefined>;
  maxLinks: number;
  onError: (error: unknown) => void;
}): (parentSessionId: string, parent?: Session) => Promise<AncestorLink[]> {
  const roots = new Set<string>();
  const loading = new Map<string, Promise<Session | undefined>>();
  const remember = (session: Session): void => {
    if (session.kind !== 'root' || roots.has(session.id)) return;
    roots.add(session.id);
    if (roots.size > KNOWN_ROOTS) roots.delete(roots.values().next().value as string);
  };
  const loadShared = (sessionId: string): Promise<Session | undefined> => {
    let pending = loading.get(sessionId);
    if (pending === undefined) {
      pending = deps.load(sessionId).finally(() => loading.delete(sessionId));
      loading.set(sessionId, pending);
    }
    return pending;
  };
  return async (parentSessionId, parent) => {
    if (parent === undefined && roots.has(parentSessionId)) return [];
    try {
      const loaded = parent ?? (await loadShared(parentSessionId));
      if (loaded === undefined) return [];
      remember(loaded);
      return await ancestorLinksOf(loaded, loadShared, deps.maxLinks);
    } catch (error) {
      deps.onError(error);
      return [];
    }
  };
}
