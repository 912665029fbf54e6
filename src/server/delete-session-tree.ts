import type { SessionCatalog } from './session-catalog.js';
import type { ServerScheduler } from './server-options.js';

/** What {@link deleteSessionTree} needs: the server's scheduler and catalog. */
export interface DeleteSessionTreeDeps {
  readonly scheduler: Pick<ServerScheduler, 'deleteSession'>;
  readonly catalog: Pick<SessionCatalog, 'descendants' | 'removeRoot' | 'markDeleted'>;
}

/**
 * Deletes a session and every session below it, the way `DELETE /api/v1/sessions/{id}` does:
 * `scheduler.deleteSession` cancels the session's run and every run below it (reason
 * `deleted`), waits for them, and takes the session's events, ledger rows and live streams with
 * it; then each descendant, deepest first. Each deleted session is announced on the catalog
 * (`markDeleted`): its open streams send their final frame and end. Resolves with how many
 * sessions were deleted: the session and each descendant listed before the delete that is gone
 * after it (a scheduler whose `deleteSession` takes the whole tree, as the distributed front door
 * does, leaves the descendants' own deletes nothing to do: they still count).
 *
 * @example
 * const deleted = await deleteSessionTree({ scheduler, catalog }, rootId);
 */
export async function deleteSessionTree(deps: DeleteSessionTreeDeps, id: string): Promise<number> {
  const descendants = await deps.catalog.descendants(id);
  const existed = await deps.scheduler.deleteSession(id);
  let deleted = existed ? 1 : 0;
  deps.catalog.markDeleted(id);
  for (const descendant of descendants) {
    // Listed a moment ago: gone now means the tree delete above took it.
    if ((await deps.scheduler.deleteSession(descendant.id)) || existed) deleted += 1;
    deps.catalog.markDeleted(descendant.id);
  }
  deps.catalog.removeRoot(id);
  return deleted;
}
