import type { LineageLink } from '../../machines/scheduler.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { RunLedgers } from './run-ledgers.js';
import { ON_PARENT_END_KEY } from '../core/on-parent-end.js';

/** Where a session hangs in its tree: its parent, and whether it abandons that parent's end. */
interface TreeLink {
  parent: string | undefined;
  abandons: boolean;
}

/**
 * The tree links read from the store, newest last, at most `capacity` (a session's parent never
 * changes, so a link read once stays true): spares a store read per spawn under a root.
 */
export class LineageCache {
  readonly #links = new Map<string, TreeLink>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  get(sessionId: string): TreeLink | undefined {
    return this.#links.get(sessionId);
  }

  set(sessionId: string, link: TreeLink): void {
    this.#links.delete(sessionId);
    this.#links.set(sessionId, link);
    if (this.#links.size > this.#capacity) this.#links.delete(this.#links.keys().next().value as string);
  }

  /** Forgets a session (deleted). */
  delete(sessionId: string): void {
    this.#links.delete(sessionId);
  }
}

function linkOf(session: Session): TreeLink {
  return { parent: session.parent_session_id, abandons: session.metadata[ON_PARENT_END_KEY] === 'abandon' };
}

/**
 * The ancestors of a new run under `parentSessionId`, parent first, up to the root (at most
 * `maxHops`): what the scheduler needs to halt a run under a halted ancestor and to reach it from
 * an ancestor's end. Read from memory only — the run ledgers (the runs this process knows) and
 * the links of sessions this process created or loaded (`cache`; `parent` is the parent session
 * when the caller loaded it) — so an enqueue never waits on the store. Where the chain is not
 * known the walk ends at the known root (`root_session_id` of the parent), so a halt of the root
 * still reaches the run.
 *
 * @example
 * const lineage = sessionLineage({ ledgers, cache, maxHops: 5 }, 'child-1');
 * // [{ sessionId: 'child-1', abandons: false }, { sessionId: 'root', abandons: false }]
 */
export function sessionLineage(
  deps: { ledgers: RunLedgers; cache: LineageCache; maxHops: number },
  parentSessionId: string,
  parent?: Session,
): LineageLink[] {
  if (parent !== undefined) deps.cache.set(parent.id, linkOf(parent));
  const lineage: LineageLink[] = [];
  const seen = new Set<string>();
  let current: string | undefined = parentSessionId;
  while (current !== undefined && current !== '' && !seen.has(current) && lineage.length <= deps.maxHops) {
    seen.add(current);
    const record = deps.ledgers.runOf(current);
    const link: TreeLink | undefined =
      record === undefined ? deps.cache.get(current) : { parent: record.parentSessionId, abandons: record.onParentEnd === 'abandon' };
    lineage.push({ sessionId: current, abandons: link?.abandons ?? false });
    current = link?.parent;
  }
  const root = parent?.root_session_id;
  if (root !== undefined && root !== '' && !seen.has(root) && current === undefined) lineage.push({ sessionId: root, abandons: false });
  return lineage;
}

/** Remembers where a session this process created hangs in its tree. */
export function rememberLink(cache: LineageCache, session: Session): void {
  cache.set(session.id, linkOf(session));
}
