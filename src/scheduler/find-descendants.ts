import type { SessionStore } from '../api/ports.js';
import { isLive, type RunRecord } from './run-ledger.js';

/**
 * Every descendant of `sessionId` (children, grandchildren, …) that has a queued, waiting or
 * running run. Walks the tree through the store's `listChildren` and the run ledgers' live runs,
 * so a descendant whose parent run already ended is still found.
 *
 * @example
 * const ids = await findDescendantsInFlight(ledgers.records(), store, 'root');
 */
export async function findDescendantsInFlight(runs: Iterable<RunRecord>, store: SessionStore, sessionId: string): Promise<Set<string>> {
  const inFlight = new Set<string>();
  const childrenOf = new Map<string, Set<string>>();
  for (const run of runs) {
    if (!isLive(run)) continue;
    inFlight.add(run.childSessionId);
    const siblings = childrenOf.get(run.parentSessionId) ?? new Set<string>();
    siblings.add(run.childSessionId);
    childrenOf.set(run.parentSessionId, siblings);
  }
  const found = new Set<string>();
  const seen = new Set<string>([sessionId]);
  const frontier = [sessionId];
  while (frontier.length > 0) {
    const parent = frontier.pop() as string;
    // A run queued under this session counts as its child (the job names it as the parent)…
    for (const child of childrenOf.get(parent) ?? []) if (inFlight.has(child)) found.add(child);
    // …but the tree is walked through the store: a job that names the wrong parent does not
    // drag the real subtree of its child along.
    let stored: string[] = [];
    try {
      stored = (await store.listChildren(parent)).map((child) => child.id);
    } catch {
      // The store could not list this level: the scheduler's own view of it still counts.
      stored = [...(childrenOf.get(parent) ?? [])];
    }
    for (const child of stored) {
      if (seen.has(child)) continue;
      seen.add(child);
      frontier.push(child);
      if (inFlight.has(child)) found.add(child);
    }
  }
  return found;
}
