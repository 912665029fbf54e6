import { Observable, type Subscription } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope, SubSessionCompletedEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { EventLog, SessionStore } from '../api/ports.js';
import { systemClock, type SproutClock } from '../clock.js';
import { toBambooEvent } from './bamboo-dialect.js';
import { ownRunStatus } from './bamboo-live-state.js';
import { announcedEnds, terminalOfCompletion } from './bamboo-run-end.js';
import { isLiveStatus } from './bamboo-session.js';
import { pendingUserTurn } from './bamboo-turn.js';
import type { BambooDialect, ServerScheduler } from './server-options.js';
import type { SessionCatalog } from './session-catalog.js';
import { endWhenDeleted, isSessionDeleted } from './session-deleted.js';
import { bambooFrame } from './sse-frames.js';
import { encodeFrame } from './sse-stream.js';

/**
 * The frame that tells a Bamboo client the stream is finished.
 *
 * @example
 * subscriber.next(encodeFrame(BAMBOO_DONE_FRAME));
 */
export const BAMBOO_DONE_FRAME = 'data: [DONE]\n\n';

/**
 * What {@link bambooEventStream} reads.
 *
 * @example
 * const deps: BambooEventStreamDeps = { scheduler, store, catalog, dialect: 'sub_session', checkMs: 5000 };
 */
export interface BambooEventStreamDeps {
  scheduler: ServerScheduler;
  store: SessionStore;
  catalog: SessionCatalog;
  dialect: BambooDialect;
  /** How often a stream held open for running sub-sessions checks whether they ended. */
  checkMs: number;
  clock?: SproutClock;
}

const CRITICAL = new Set(['sub_session_started', 'sub_session_completed']);
const isTerminal = (envelope: SessionEventEnvelope): boolean => envelope.event.type === 'complete' || envelope.event.type === 'error';

/**
 * Bamboo's per-session event stream (`GET /api/v1/events/{id}`) as SSE bytes, with Bamboo's
 * terminal discipline:
 *
 * - Frames are `id: <seq>\ndata: <event JSON>\n\n` (Lotus's parser reads only `data: ` lines).
 *   With `afterSeq` (`Last-Event-ID` / `?after=`) every retained event after it is replayed;
 *   otherwise the critical events of the current (or last) run: `sub_session_started` /
 *   `sub_session_completed`. Tokens are never replayed.
 * - A finished session (its run ended, no user turn pending, no descendant running) gets the
 *   replay, its terminal event (the stored one, else one made from the run status), `data:
 *   [DONE]`, end. A cancel is `cancelled` in the `sub_agent` dialect and `error` in the
 *   `sub_session` one (legacy Lotus knows no `cancelled`), see `toBambooEvent`.
 * - Otherwise the stream is live: after the session's own terminal `complete` / `error` /
 *   `cancelled`, it sends `data: [DONE]` and ends — once no descendant runs any more (checked on
 *   each `sub_session_completed` and every `checkMs`). A child's run that ends without a
 *   terminal event of its own (cancelled while queued) ends the stream all the same: its
 *   parent's `sub_session_completed` stands for it ({@link terminalOfCompletion}, a frame without
 *   `id:`). A session that never ran or whose last message is a pending user turn stays live:
 *   clients subscribe before they execute.
 * - A deleted session's stream ends with `data: [DONE]`, after a cancelled terminal (reason
 *   `deleted`) when its run had not ended on the stream yet.
 *
 * @example
 * return sseResponse({ source: bambooEventStream(deps, id, {}), frame: (bytes) => bytes, comment: 'heartbeat', pingMs: 5000, streams });
 */
export function bambooEventStream(
  deps: BambooEventStreamDeps,
  sessionId: string,
  { afterSeq }: { afterSeq?: number },
): Observable<Uint8Array> {
  return new Observable<Uint8Array>((subscriber) => {
    let live: Subscription | undefined;
    let ends: Subscription | undefined;
    let timer: unknown;
    let checking = false;
    let holding = false;
    const clock = deps.clock ?? systemClock;
    const emit = (envelope: SessionEventEnvelope): void => {
      const bytes = bambooFrame(envelope, deps.dialect);
      if (bytes !== undefined) subscriber.next(bytes);
    };
    const emitEvent = (event: AgentEvent): void => {
      subscriber.next(encodeFrame(`data: ${JSON.stringify(toBambooEvent(event, deps.dialect))}\n\n`));
    };
    const finish = (): void => {
      if (subscriber.closed) return;
      subscriber.next(encodeFrame(BAMBOO_DONE_FRAME));
      subscriber.complete();
    };
    const check = async (): Promise<void> => {
      if (checking || subscriber.closed) return;
      checking = true;
      try {
        if (!(await descendantsRunning(deps, sessionId))) finish();
      } finally {
        checking = false;
      }
    };
    const hold = (): void => {
      holding = true;
      const tick = (): void => {
        if (subscriber.closed) return;
        timer = clock.setTimeout(() => {
          if (subscriber.closed) return;
          check().then(tick, (error: unknown) => subscriber.error(error));
        }, deps.checkMs);
      };
      tick();
      void check().catch((error: unknown) => subscriber.error(error));
    };
    // A run's end its parent announced: when no terminal event of the session's own came first
    // (a child cancelled while queued has none), one made from the announcement ends the stream.
    let liveSince: number | undefined;
    const announced: SubSessionCompletedEvent[] = [];
    const onAnnounced = (completion: SubSessionCompletedEvent): void => {
      if (subscriber.closed || holding) return;
      if (liveSince === undefined) {
        announced.push(completion);
        return;
      }
      emitEvent(terminalOfCompletion(completion));
      hold();
    };
    const goLive = (fromSeq: number, finished: boolean): void => {
      liveSince = fromSeq;
      live = endWhenDeleted(deps.scheduler.events(sessionId, { afterSeq: fromSeq }), sessionId, deps).subscribe({
        next: (envelope) => {
          if (subscriber.closed) return;
          if (isSessionDeleted(envelope)) {
            // Deleted: a run still open here ends as cancelled (the UI stops waiting), then [DONE].
            if (!finished && !holding) emitEvent({ type: 'error', message: 'run cancelled (reason: deleted)' });
            return finish();
          }
          emit(envelope);
          if (!finished && !holding && isTerminal(envelope)) hold();
          else if (holding && envelope.event.type === 'sub_session_completed')
            void check().catch((error: unknown) => subscriber.error(error));
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
      // A finished session's replay already ends with its terminal event.
      for (const completion of announced.splice(0)) if (!finished) onAnnounced(completion);
    };

    void (async () => {
      const session = await deps.store.load(sessionId);
      if (session === undefined) return finish();
      ends = announcedEnds(deps.scheduler, session).subscribe({ next: onAnnounced, error: (error: unknown) => subscriber.error(error) });
      const snapshot = await retained(deps.scheduler, sessionId);
      const lastSeq = snapshot.at(-1)?.seq ?? 0;
      const terminals = snapshot.filter(isTerminal);
      const status = await ownRunStatus(deps.scheduler, session);
      const stayLive = status === undefined || isLiveStatus(status) || pendingUserTurn(session) !== undefined;
      const resume = afterSeq === undefined ? undefined : Math.min(afterSeq, lastSeq);
      const windowStart = (stayLive ? terminals.at(-1)?.seq : terminals.at(-2)?.seq) ?? 0;
      const replay =
        resume !== undefined
          ? snapshot.filter((envelope) => envelope.seq > resume)
          : snapshot.filter((envelope) => envelope.seq > windowStart && CRITICAL.has(envelope.event.type));
      if (subscriber.closed) return;
      for (const envelope of replay) emit(envelope);
      if (stayLive) return goLive(lastSeq, false);
      const last = terminals.at(-1);
      if (last === undefined) emitEvent(oneShotTerminal(session, status));
      else if (!replay.includes(last)) emit(last);
      goLive(lastSeq, true);
      hold();
    })().catch((error: unknown) => subscriber.error(error));

    return () => {
      live?.unsubscribe();
      ends?.unsubscribe();
      if (timer !== undefined) clock.clearTimeout(timer);
    };
  });
}

/** The terminal event of a finished run whose own terminal event is no longer retained. */
function oneShotTerminal(session: Session, status: string | undefined): AgentEvent {
  if (status === 'error') return { type: 'error', message: session.metadata.last_run_error ?? 'Agent execution failed' };
  if (status === 'skipped') return { type: 'error', message: session.metadata.last_run_error ?? 'Agent execution skipped' };
  if (status === 'cancelled') return { type: 'error', message: 'run cancelled (reason: user)' };
  return { type: 'complete', usage: { prompt_tokens: 0, completion_tokens: 0, total_tokens: 0 } };
}

/** True while any session below this one has a queued or running run. */
async function descendantsRunning(deps: BambooEventStreamDeps, sessionId: string): Promise<boolean> {
  for (const descendant of await deps.catalog.descendants(sessionId)) {
    if (isLiveStatus(await ownRunStatus(deps.scheduler, descendant))) return true;
  }
  return false;
}

/** The session's retained events: from the scheduler's log when it exposes one, else the synchronous replay of `events()`. */
async function retained(scheduler: ServerScheduler, sessionId: string): Promise<SessionEventEnvelope[]> {
  const log = (scheduler as { eventLog?: Pick<EventLog, 'read'> }).eventLog;
  if (log !== undefined) return (await log.read(sessionId, 0)).envelopes;
  const envelopes: SessionEventEnvelope[] = [];
  scheduler
    .events(sessionId, { afterSeq: 0 })
    .subscribe((envelope) => envelopes.push(envelope))
    .unsubscribe();
  return envelopes.filter((envelope) => envelope.event.type !== 'stream_truncated');
}
