import type { AgentEvent } from '../../../machines/agent-event.events.js';
import { METADATA_KEYS, type Session } from '../../../machines/session.schema.js';
import type { SessionStore } from '../../api/ports.js';
import type { ServerScheduler } from '../server-options.js';

const LIVE = new Set(['pending', 'running', 'queued']);

/**
 * True while a session has a run to wait for: its run is queued or running, its stored status
 * says `pending` / `running`, it never ran, or its last message is a user turn no run has answered
 * yet (lotus-next subscribes while `POST /execute` is still on its way). A user message that the
 * last run ended on (a cancelled or failed run leaves it last) is no pending turn: that run's
 * end is newer than the message.
 *
 * @example
 * if (!(await isAwaitingRun(scheduler, session))) sendTerminal();
 */
export async function isAwaitingRun(scheduler: Pick<ServerScheduler, 'getChild'>, session: Session): Promise<boolean> {
  const run = await scheduler.getChild(session.id);
  if (run !== undefined && LIVE.has(run.status)) return true;
  const status = session.metadata[METADATA_KEYS.status];
  if (status !== undefined && LIVE.has(status)) return true;
  const last = session.messages.at(-1);
  if (last === undefined) return run === undefined && status === undefined;
  if (last.role !== 'user') return false;
  if (run?.endedAt !== undefined) return Date.parse(last.created_at) > Date.parse(run.endedAt);
  return status !== 'error' && status !== 'cancelled';
}

/**
 * How many descendants of a session have a queued or running run (stored status `pending` /
 * `running`), walking at most `limit` sessions. A finished root's terminal control waits for them.
 *
 * @example
 * if ((await runningDescendants(store, rootId)) === 0) sendTerminal();
 */
export async function runningDescendants(store: SessionStore, sessionId: string, limit = 10_000): Promise<number> {
  let running = 0;
  let seen = 0;
  const queue = [sessionId];
  while (queue.length > 0 && seen < limit) {
    for (const child of await store.listChildren(queue.shift() as string)) {
      seen += 1;
      const status = child.metadata[METADATA_KEYS.status];
      if (status !== undefined && LIVE.has(status)) running += 1;
      queue.push(child.id);
    }
  }
  return running;
}

/**
 * The terminal event of a session whose stream no longer holds it (retention dropped it): from
 * its stored status.
 *
 * @example
 * storedTerminal(session); // { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } }
 */
export function storedTerminal(session: Session): AgentEvent {
  const status = session.metadata[METADATA_KEYS.status];
  const error = session.metadata[METADATA_KEYS.error];
  if (status === 'cancelled') return { type: 'error', message: 'run cancelled (reason: user)' };
  if (status === 'error' || status === 'skipped') return { type: 'error', message: error ?? 'Agent execution failed' };
  return { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
}
