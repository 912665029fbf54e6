import type { AncestorLink } from '../api/scheduler-types.js';
import { SproutValidationError } from '../errors.js';

/**
 * Checks that `enqueue(job, { ancestors })` names a chain: the first link is the job's parent and
 * each next one is the previous link's parent (no session twice). Throws a
 * {@link SproutValidationError} otherwise.
 *
 * @example
 * checkAncestorChain('C', [{ sessionId: 'C', parentSessionId: 'R', runId: 'run-c' }]); // fine
 */
export function checkAncestorChain(parentSessionId: string, ancestors: readonly AncestorLink[]): void {
  const seen = new Set<string>();
  let expected = parentSessionId;
  for (const [index, link] of ancestors.entries()) {
    const message =
      link.sessionId !== expected
        ? `link ${index} is about ${link.sessionId}, expected ${expected} (the chain goes up from the job's parent)`
        : seen.has(link.parentSessionId) || link.parentSessionId === parentSessionId
          ? `link ${index} names ${link.parentSessionId} again (a cycle)`
          : undefined;
    if (message !== undefined) {
      throw new SproutValidationError('enqueue options', [{ code: 'custom', path: ['ancestors', index], message, input: link }]);
    }
    seen.add(link.sessionId);
    expected = link.parentSessionId;
  }
}
