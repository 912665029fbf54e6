import { filter } from 'rxjs';
import type { AncestorLink, EnqueueResult } from '../api/scheduler-types.js';
import type { StreamLink, StreamLinkResolver } from '../streams/session-event-hub.js';
import { isLive } from './run-ledger.js';
import type { RunLedgers } from './run-ledgers.js';

/**
 * The tree links above the runs of this scheduler that `enqueue(job, { ancestors })` handed in:
 * where the streams of sessions whose runs this process does not hold are forwarded (a
 * distributed worker runs a grandchild while its parent runs on another worker). A run's links
 * are kept while it is queued or running (given `ledgers`, they are dropped when it ends there);
 * when two runs name the same session, the newest wins.
 *
 * @example
 * const links = new AncestorLinks();
 * links.add('run-d', [{ sessionId: 'C', parentSessionId: 'R', runId: 'run-c' }]);
 * links.linkOf('C'); // { parentSessionId: 'R', runId: 'run-c' }
 * links.drop('run-d');
 */
export class AncestorLinks {
  /** Per session, its link as each run that brought one named it (insertion order: newest last). */
  readonly #bySession = new Map<string, Map<string, StreamLink>>();
  /** Per run, the sessions it brought links for. */
  readonly #byRun = new Map<string, string[]>();

  constructor(ledgers?: RunLedgers) {
    if (ledgers === undefined) return;
    // Dropped after the end's own publications: the completion that follows the ledger's end on
    // the parent's stream (same call stack) is still forwarded up through them.
    const ended = ({ runId }: { runId: string }): void => {
      if (this.#byRun.has(runId)) queueMicrotask(() => this.drop(runId));
    };
    ledgers.ended$.subscribe(ended);
    // A run dropped unannounced ends without `ended$`.
    ledgers.changed$.pipe(filter((record) => !isLive(record))).subscribe(ended);
  }

  /**
   * Queues a run with its links: kept before it is sent (its first events may be published
   * before `enqueue` resolves), dropped again when it is not this run that was queued (a run
   * already live keeps the links it brought).
   */
  async enqueueWith(runId: string, ancestors: readonly AncestorLink[], enqueue: () => Promise<EnqueueResult>): Promise<EnqueueResult> {
    const fresh = ancestors.length > 0 && !this.#byRun.has(runId);
    if (fresh) this.add(runId, ancestors);
    try {
      const result = await enqueue();
      if (fresh && result.runId !== runId) this.drop(runId);
      return result;
    } catch (error) {
      if (fresh) this.drop(runId);
      throw error;
    }
  }

  /** How many runs brought links (0: nothing to look up). */
  get size(): number {
    return this.#byRun.size;
  }

  /** Whether `runId` brought links that are still kept. */
  has(runId: string): boolean {
    return this.#byRun.has(runId);
  }

  /** Keeps the links `runId` brought (replacing what that run brought before). */
  add(runId: string, ancestors: readonly AncestorLink[]): void {
    this.drop(runId);
    if (ancestors.length === 0) return;
    this.#byRun.set(
      runId,
      ancestors.map(({ sessionId, parentSessionId, runId: linkRunId }) => {
        let links = this.#bySession.get(sessionId);
        if (links === undefined) this.#bySession.set(sessionId, (links = new Map<string, StreamLink>()));
        links.set(runId, { parentSessionId, runId: linkRunId });
        return sessionId;
      }),
    );
  }

  /** Forgets the links `runId` brought (it ended, or was never queued). */
  drop(runId: string): void {
    const sessions = this.#byRun.get(runId);
    if (sessions === undefined) return;
    this.#byRun.delete(runId);
    for (const sessionId of sessions) {
      const links = this.#bySession.get(sessionId);
      links?.delete(runId);
      if (links?.size === 0) this.#bySession.delete(sessionId);
    }
  }

  /** The newest link handed in for `sessionId`, if a run still queued or running brought one. */
  linkOf(sessionId: string): StreamLink | undefined {
    const links = this.#bySession.get(sessionId);
    if (links === undefined) return undefined;
    let newest: StreamLink | undefined;
    for (const link of links.values()) newest = link;
    return newest;
  }
}

/**
 * The forward resolver of a scheduler's hub: a session's stream goes up to its parent's while the
 * session's run runs in `ledgers` (or, for the events of one run, under that run); a session whose
 * run this process does not hold goes up through the link a run of ours was handed for it, unless
 * the ledger saw that very run end.
 *
 * @example
 * hub.forwardWith(streamLinkResolver(ledgers, new AncestorLinks(ledgers)), maxDepth);
 */
export function streamLinkResolver(ledgers: RunLedgers, ancestors: AncestorLinks): StreamLinkResolver {
  return (sessionId, runId) => {
    const record = ledgers.runOf(sessionId);
    if (record?.parentSessionId === '') return undefined;
    // Only while the run runs (announced, and its session checked as a child of that parent).
    if (record !== undefined && (runId === undefined ? record.status === 'running' : record.runId === runId)) {
      return { parentSessionId: record.parentSessionId, runId: record.runId };
    }
    if (runId !== undefined || ancestors.size === 0) return undefined;
    const link = ancestors.linkOf(sessionId);
    return link === undefined || record?.runId === link.runId ? undefined : link;
  };
}
