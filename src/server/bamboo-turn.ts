import type { Message, Session } from '../../machines/session.schema.js';
import { BAMBOO_METADATA_KEYS } from './bamboo-session.js';

/**
 * The user message waiting for `POST /api/v1/execute/{id}`: the last message, when it is a user
 * message a truncate left (metadata `bamboo_pending_turn`) or the session never ran. `undefined`
 * otherwise (a run that ended without answering is not a pending turn: its status is the answer).
 *
 * @example
 * const turn = pendingUserTurn(session); // the user message to run again, or undefined
 */
export function pendingUserTurn(session: Session): Message | undefined {
  const last = session.messages.at(-1);
  if (last?.role !== 'user') return undefined;
  if (session.metadata[BAMBOO_METADATA_KEYS.pendingTurn] === last.id) return last;
  return session.metadata.last_run_status === undefined ? last : undefined;
}

/**
 * Bamboo's retry / regenerate truncate, in place: removes every message after the last user
 * message and marks that message as a pending turn. Returns how many messages went, or
 * `undefined` when the session has no user message.
 *
 * @example
 * truncateAfterLastUser(session); // 2 (the answer and a tool result), session.messages ends with the user turn
 */
export function truncateAfterLastUser(session: Session): number | undefined {
  let index = session.messages.length - 1;
  while (index >= 0 && session.messages[index]?.role !== 'user') index -= 1;
  const user = session.messages[index];
  if (user === undefined) return undefined;
  const removed = session.messages.length - index - 1;
  session.messages.splice(index + 1);
  session.metadata[BAMBOO_METADATA_KEYS.pendingTurn] = user.id;
  return removed;
}
