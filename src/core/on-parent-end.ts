import type { Session } from '../../machines/session.schema.js';
import type { OnParentEnd } from '../../machines/spawn-job.events.js';

/** What a child's run does when its parent's run ends `cancelled` or `error`, unless told otherwise. */
export const DEFAULT_ON_PARENT_END: OnParentEnd = 'cancel';

/** The metadata key that records a child spawned with `onParentEnd: 'abandon'`. */
export const ON_PARENT_END_KEY = 'on_parent_end';

/**
 * Records `onParentEnd: 'abandon'` on a child session (so its descendants' lineage sees it after a restart).
 *
 * @example
 * markAbandons(child); // child.metadata.on_parent_end === 'abandon'
 */
export function markAbandons(session: Session): void {
  session.metadata[ON_PARENT_END_KEY] = 'abandon';
}
