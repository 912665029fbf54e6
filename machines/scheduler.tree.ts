import { isRootJob, type SpawnJob } from './spawn-job.events.js';

/**
 * One ancestor of a run's session, nearest first (`lineage[0]` is the parent): its id, and whether
 * it abandons its own parent (`onParentEnd: 'abandon'`), which stops a parent's end from reaching
 * further down through it.
 */
export interface LineageLink {
  sessionId: string;
  abandons: boolean;
}

/** What the tree rules read of a run. */
interface TreeRun {
  job: SpawnJob;
  lineage?: readonly LineageLink[] | undefined;
}

/** How many halted sessions a scheduler remembers by default (the oldest marks are forgotten first). */
export const HALTED_RETENTION = 10_000;

/**
 * The sessions whose end reached their subtree (cancelled, failed, `cancelTree`): a run queued
 * under one of them ends `cancelled` (reason `parent`) without its agent being called. A mark is
 * cleared when the session itself is queued to run again; the oldest marks are forgotten beyond
 * `capacity`, so a long-lived scheduler stays bounded. Pure data: insertion order is the age.
 *
 * @example
 * const halted = new HaltedSessions(); halted.add('c1'); halted.has('c1'); // true
 */
export class HaltedSessions {
  readonly #marks = new Set<string>();
  readonly #capacity: number;

  constructor(capacity = HALTED_RETENTION) {
    this.#capacity = capacity;
  }

  /** Number of marks held. */
  get size(): number {
    return this.#marks.size;
  }

  has(sessionId: string): boolean {
    return this.#marks.has(sessionId);
  }

  /** Marks a session halted (a mark added again becomes the newest). */
  add(sessionId: string): void {
    this.#marks.delete(sessionId);
    this.#marks.add(sessionId);
    while (this.#marks.size > this.#capacity) this.#marks.delete(this.#marks.values().next().value as string);
  }

  delete(sessionId: string): void {
    this.#marks.delete(sessionId);
  }

  /** A copy (for tools that branch a snapshot). */
  clone(): HaltedSessions {
    const copy = new HaltedSessions(this.#capacity);
    for (const id of this.#marks) copy.add(id);
    return copy;
  }

  /** The marks, oldest first (what inspectors and `JSON.stringify` show). */
  toJSON(): string[] {
    return [...this.#marks];
  }
}

/**
 * A run's ancestors, parent first: the ones it was queued with, else its parent alone (none for
 * a root's own run).
 */
export function lineageOf(run: TreeRun): readonly LineageLink[] {
  if (run.lineage !== undefined && run.lineage.length > 0) return run.lineage;
  return isRootJob(run.job) ? [] : [{ sessionId: run.job.parentSessionId, abandons: false }];
}

/**
 * True when a halted ancestor's end reaches this run: walking up from the parent, a halted
 * session blocks it; an ancestor that abandons its own parent shields it from everything above.
 */
export function isUnderHalted(halted: HaltedSessions, lineage: readonly LineageLink[]): boolean {
  for (const link of lineage) {
    if (halted.has(link.sessionId)) return true;
    if (link.abandons) return false;
  }
  return false;
}

/**
 * True when the end of `sessionId` reaches the run: the run is below it, cancels with its parent
 * (`onParentEnd` is not `abandon`), and no session between them abandons its own parent. With
 * `everything` (`cancelTree`), every run below it is reached.
 */
export function isReachedBy(run: TreeRun, sessionId: string, everything: boolean): boolean {
  const lineage = lineageOf(run);
  const at = lineage.findIndex((link) => link.sessionId === sessionId);
  if (at < 0) return false;
  if (everything) return true;
  if (run.job.onParentEnd === 'abandon') return false;
  for (let i = 0; i < at; i++) if ((lineage[i] as LineageLink).abandons) return false;
  return true;
}

/** Records a run in flight under each of its ancestors (O(depth)). */
export function indexSubtree(subtree: Map<string, Set<string>>, run: TreeRun): void {
  for (const link of lineageOf(run)) {
    let below = subtree.get(link.sessionId);
    if (below === undefined) {
      below = new Set();
      subtree.set(link.sessionId, below);
    }
    below.add(run.job.childSessionId);
  }
}

/** Forgets a run that is no longer in flight (O(depth)). */
export function unindexSubtree(subtree: Map<string, Set<string>>, run: TreeRun): void {
  for (const link of lineageOf(run)) {
    const below = subtree.get(link.sessionId);
    if (below === undefined) continue;
    below.delete(run.job.childSessionId);
    if (below.size === 0) subtree.delete(link.sessionId);
  }
}
