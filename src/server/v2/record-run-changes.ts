import type { Subscription } from 'rxjs';
import { METADATA_KEYS, type Session } from '../../../machines/session.schema.js';
import type { SessionStore } from '../../api/ports.js';
import { toRfc3339 } from '../../clock.js';
import type { RunStateTracker } from '../run-states.js';
import type { FeedEvent, FeedJournal } from './feed-journal.js';

/** Run ids being followed at most (older ones are forgotten: their end is then not journaled). */
const MAX_FOLLOWED = 10_000;

/**
 * Bamboo's `message_appended` for a session's last message (`undefined` without messages).
 *
 * @example
 * messageAppended(session); // { type: 'message_appended', session_id, message_id, role: 'assistant', content, created_at }
 */
export function messageAppended(session: Session): FeedEvent | undefined {
  const last = session.messages.at(-1);
  if (last === undefined) return undefined;
  return {
    type: 'message_appended',
    session_id: session.id,
    message_id: last.id,
    role: last.role,
    content: last.content,
    created_at: last.created_at,
  };
}

/**
 * Bamboo's `session_created` for a session.
 *
 * @example
 * sessionCreated(session); // { type: 'session_created', session_id, project_id: null, title, kind: 'root', created_at }
 */
export function sessionCreated(session: Session): FeedEvent {
  return {
    type: 'session_created',
    session_id: session.id,
    project_id: null,
    title: session.title,
    kind: session.kind,
    created_at: session.created_at,
  };
}

/** The terminal event of a finished run as the feed carries it, from the session's stored status. */
function terminalOf(session: Session): FeedEvent {
  const status = session.metadata[METADATA_KEYS.status];
  if (status === 'completed') return { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
  if (status === 'cancelled') return { type: 'cancelled', message: 'Agent execution cancelled' };
  return { type: 'error', message: session.metadata[METADATA_KEYS.error] ?? 'Agent execution failed' };
}

/** Options of {@link recordRunChanges}. */
export interface RecordRunChangesOptions {
  feed: FeedJournal;
  runStates: RunStateTracker;
  store: SessionStore;
  now: () => number;
  /** Gets a failed store read (that change is then not journaled). */
  onError: (error: unknown) => void;
}

/**
 * Journals every run of every session on the account feed, from the run-state tracker (the
 * scheduler's inspection): when a run appears, `session_created` for a child's first run,
 * `execution_started { run_id, session_id, started_at }` and `message_appended` for the user
 * turn it answers; when it ends, `message_appended` for the answer and the terminal event
 * (`complete`, `cancelled` or `error`, from the stored status). Changes are journaled in the
 * order the runs changed. Returns the subscription.
 *
 * @example
 * const subscription = recordRunChanges({ feed, runStates, store, now: Date.now, onError: console.error });
 */
export function recordRunChanges({ feed, runStates, store, now, onError }: RecordRunChangesOptions): Subscription {
  const followed = new Set<string>();
  let chain: Promise<void> = Promise.resolve();
  const journal = (session: Session, events: (FeedEvent | undefined)[]): void => {
    for (const event of events) if (event !== undefined) feed.record(session.id, event);
  };
  return runStates.changes$.subscribe((run) => {
    if (run.runId === '') return;
    const first = !followed.has(run.runId);
    if (!first && !run.done) return;
    if (run.done) followed.delete(run.runId);
    else {
      followed.add(run.runId);
      if (followed.size > MAX_FOLLOWED) followed.delete(followed.values().next().value as string);
    }
    const startedAt = toRfc3339(now());
    chain = chain
      .then(async () => {
        const session = await store.load(run.childSessionId);
        if (!session) return;
        if (!run.done) {
          const firstRun = session.kind === 'child' && !session.messages.some((message) => message.role === 'assistant');
          const turn = session.messages.findLast((message) => message.role === 'user');
          const last = turn === undefined ? undefined : messageAppended({ ...session, messages: [turn] });
          journal(session, [
            firstRun ? sessionCreated(session) : undefined,
            { type: 'execution_started', run_id: run.runId, session_id: session.id, started_at: startedAt },
            last,
          ]);
        } else {
          const answer = session.messages.at(-1)?.role === 'assistant' ? messageAppended(session) : undefined;
          journal(session, [answer, terminalOf(session)]);
        }
      })
      .catch(onError);
  });
}
