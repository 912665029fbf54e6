import type { Subscription } from 'rxjs';
import type { SessionEventEnvelope, SubSessionCompletedEvent } from '../../../machines/agent-event.events.js';
import type { Session } from '../../../machines/session.schema.js';
import type { SessionStore } from '../../api/ports.js';
import { SproutValidationError } from '../../errors.js';
import { announcedEnds, terminalOfCompletion } from '../bamboo-run-end.js';
import type { ServerScheduler } from '../server-options.js';
import type { SessionCatalog } from '../session-catalog.js';
import { isAwaitingRun, runningDescendants, storedTerminal } from './session-run-state.js';
import { AGENT_CHANNEL_PREFIX, isTerminalEvent, toLotusEvent, type ChannelFrame } from './v2-frames.js';

/** What an agent channel needs. */
export interface AgentChannelDeps {
  scheduler: ServerScheduler;
  store: SessionStore;
  /** Sends one frame to the socket. */
  send: (frame: ChannelFrame) => void;
  /** Called once when the channel ended by itself (terminal sent, or the stream ended). */
  onEnd: () => void;
  /** Gets a failure of the channel's own reads (the channel then ends with its terminal control). */
  onError: (error: unknown) => void;
  /** Announces the sessions this server deletes (the channel then ends with `reason: 'deleted'`). */
  catalog?: Pick<SessionCatalog, 'deleted$'>;
}

/** A live `agent.<sid>` subscription. */
export interface AgentChannel {
  /** Ends it (unsubscribe, socket closed, replaced); sends nothing more. */
  close(): void;
  /** A keepalive tick: a channel holding its terminal for running children checks them again. */
  tick(): void;
}

/** Events replayed to a new subscriber of a running session (its state, never its tokens, as Bamboo does). */
const REPLAYED = new Set(['sub_session_started', 'sub_session_completed']);

/**
 * Opens `agent.<sessionId>`: the session's events as lotus-next reads them ({@link toLotusEvent}),
 * each as `{ ch, seq, event }` with the stream's own `seq`, then `{ ch, seq, control: { type:
 * 'terminal', reason: 'complete' } }` after the run's terminal event once no descendant runs
 * any more, or `{ …, control: { type: 'terminal', reason: 'deleted' } }` once the session is
 * deleted. The stream is subscribed at once (events published from this call on are never
 * missed); an unknown session's channel ends with nothing sent (Bamboo ignores such a subscribe).
 *
 * - With `since` (Sprout's extension): every event after that `seq`, then live: a reconnect loses
 *   nothing. A `since` past the end of the stream (the server restarted) counts as none.
 * - Without (what lotus-next sends): a finished session gets its last run replayed, then the
 *   terminal control; a session with a run to wait for ({@link isAwaitingRun}: a pending user turn
 *   is never terminated) gets the current run's `sub_agent_started` / `_completed`, then live events.
 *
 * @example
 * const channel = openAgentChannel({ scheduler, store, send, onEnd, onError }, 'root-1', undefined);
 * channel.close();
 */
export function openAgentChannel(deps: AgentChannelDeps, sessionId: string, since: number | undefined): AgentChannel {
  const { scheduler, store, send } = deps;
  const ch = `${AGENT_CHANNEL_PREFIX}${sessionId}`;
  let mode: 'deciding' | 'live' | 'holding' | 'ended' = 'deciding';
  let lastSeq = since ?? 0;
  const queue: SessionEventEnvelope[] = [];
  let subscription: Subscription | undefined;
  let ends: Subscription | undefined;
  const announced: SubSessionCompletedEvent[] = [];

  const isEnded = (): boolean => mode === 'ended';
  const end = (): void => {
    if (mode === 'ended') return;
    mode = 'ended';
    subscription?.unsubscribe();
    ends?.unsubscribe();
    deletions?.unsubscribe();
  };
  const endBySelf = (): void => {
    if (mode === 'ended') return;
    end();
    deps.onEnd();
  };
  const sendTerminal = (reason: 'complete' | 'deleted' = 'complete'): void => {
    if (mode === 'ended') return;
    send({ ch, seq: lastSeq, control: { type: 'terminal', reason } });
    endBySelf();
  };
  // The stream completes when the session is deleted (embedded scheduler); ends it with `deleted`.
  const onComplete = (): void => {
    store.load(sessionId).then((session) => (session === undefined ? sendTerminal('deleted') : endBySelf()), deps.onError);
  };
  const deletions = deps.catalog?.deleted$(sessionId).subscribe(() => sendTerminal('deleted'));
  const checkHold = async (): Promise<void> => {
    let running = 0;
    try {
      running = await runningDescendants(store, sessionId);
    } catch (error) {
      deps.onError(error);
    }
    if (mode === 'holding' && running === 0) sendTerminal();
  };
  const forward = (envelope: SessionEventEnvelope): void => {
    if (mode === 'ended') return;
    lastSeq = Math.max(lastSeq, envelope.seq);
    const event = toLotusEvent(envelope.event);
    if (event !== undefined) send({ ch, seq: envelope.seq, event });
    if (mode === 'live' && isTerminalEvent(envelope.event)) {
      mode = 'holding';
      void checkHold();
    } else if (mode === 'holding' && envelope.event.type === 'sub_session_completed') {
      void checkHold();
    }
  };
  // A run's end its parent announced: without a terminal event of the session's own first (a
  // child cancelled while queued has none), one made from the announcement ends the run here.
  const onAnnounced = (completion: SubSessionCompletedEvent): void => {
    if (mode === 'deciding') announced.push(completion);
    else if (mode === 'live') forward({ seq: lastSeq, sessionId, event: terminalOfCompletion(completion) });
  };
  const observer = {
    next: (envelope: SessionEventEnvelope) => (mode === 'deciding' ? queue.push(envelope) : forward(envelope)),
    error: (error: unknown) => {
      deps.onError(error);
      sendTerminal();
    },
    complete: onComplete,
  };

  let resume = since;
  // Without a cursor the whole retained stream is read, to find the last run in it; a log that
  // replays asynchronously (the distributed front door's) cannot tell that replay from live
  // events, so there it is live events only (a finished session then gets its stored terminal).
  const fromStart = typeof (scheduler as { eventLog?: unknown }).eventLog === 'object' ? {} : { afterSeq: 0 };
  try {
    subscription = scheduler.events(sessionId, since === undefined ? fromStart : { afterSeq: since }).subscribe(observer);
  } catch (error) {
    if (!(error instanceof SproutValidationError)) throw error;
    // The cursor is past the end of the stream: a cursor of an earlier server; start over.
    resume = undefined;
    lastSeq = 0;
    subscription = scheduler.events(sessionId, fromStart).subscribe(observer);
  }
  // The embedded scheduler replays synchronously: what is queued now is the replay.
  const replayed = queue.length;

  const decide = async (): Promise<void> => {
    let awaiting = true;
    let session: Session | undefined;
    try {
      session = await store.load(sessionId);
      if (!session) return endBySelf();
      ends = announcedEnds(scheduler, session).subscribe({ next: onAnnounced, error: deps.onError });
      awaiting = await isAwaitingRun(scheduler, session);
    } catch (error) {
      deps.onError(error);
    }
    if (isEnded()) return;

    const start = (): void => {
      mode = 'live';
      const pending = queue.splice(0);
      for (const envelope of pending) forward(envelope);
    };
    if (resume !== undefined) {
      const upToDate = queue.length === 0;
      start();
      // The client has every event and the run is over (it missed only the control): end it.
      if (upToDate && !awaiting && mode === 'live') {
        mode = 'holding';
        void checkHold();
      }
    } else {
      const terminals = queue.flatMap((envelope, index) => (isTerminalEvent(envelope.event) ? [index] : []));
      const last = terminals.at(-1) ?? -1;
      const finished = !awaiting && (last < 0 || last === queue.length - 1);
      if (finished) {
        // The last run, its terminal event included; then the terminal control (or the hold).
        const all = queue.splice(0);
        const run = all.slice((terminals.at(-2) ?? -1) + 1, last + 1);
        mode = 'live';
        if (run.length === 0) {
          // Retention dropped the terminal event: the stored status tells how the run ended.
          lastSeq = Math.max(lastSeq, all.at(-1)?.seq ?? 0);
          if (session) run.push({ seq: lastSeq, sessionId, event: storedTerminal(session) });
        }
        for (const envelope of run) forward(envelope);
        if (run.length === 0) sendTerminal();
      } else {
        // Live: the current run's sub-agent state, everything that arrived since the subscribe, then live.
        const current = queue.splice(0, replayed).slice(last + 1);
        for (const envelope of current) {
          lastSeq = Math.max(lastSeq, envelope.seq);
          if (REPLAYED.has(envelope.event.type)) {
            const event = toLotusEvent(envelope.event);
            if (event !== undefined) send({ ch, seq: envelope.seq, event });
          }
        }
        start();
      }
    }
  };
  decide()
    .then(() => {
      for (const completion of announced.splice(0)) onAnnounced(completion);
    })
    .catch(deps.onError);
  return { close: end, tick: () => void (mode === 'holding' ? checkHold() : undefined) };
}
