import { Subject, type Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../src/api/wire-types.js';
import { observeRuns, type RunChange } from '../../src/telemetry/observe-runs.js';

/** A scheduler's event streams as plain Subjects (what a front door's `events()` gives), with the seq each watch asked for. */
function fakeScheduler() {
  const streams = new Map<string, Subject<SessionEventEnvelope>>();
  const seqs = new Map<string, number>();
  const asked: { sessionId: string; afterSeq: number | undefined }[] = [];
  const stream = (id: string) => streams.get(id) ?? streams.set(id, new Subject()).get(id)!;
  return {
    asked,
    events(sessionId: string, options?: { afterSeq?: number }): Observable<SessionEventEnvelope> {
      asked.push({ sessionId, afterSeq: options?.afterSeq });
      return stream(sessionId);
    },
    publish(sessionId: string, event: AgentEvent): number {
      const seq = (seqs.get(sessionId) ?? 0) + 1;
      seqs.set(sessionId, seq);
      stream(sessionId).next({ seq, sessionId, event });
      return seq;
    },
  };
}

const ids = (parent: string, child: string, run: string) => ({ parent_session_id: parent, child_session_id: child, run_id: run });
const beat = (parent: string, child: string, run: string, waiting?: string[]): AgentEvent => ({
  type: 'sub_session_heartbeat',
  ...ids(parent, child, run),
  timestamp: '2026-01-01T00:00:00.000Z',
  events_seen: 0,
  ...(waiting === undefined ? {} : { waiting_on: waiting }),
});

describe('observeRuns', () => {
  it('follows every session the log reports appends for (the front door), each run once, with states, usage and duration', () => {
    const scheduler = fakeScheduler();
    const appended$ = new Subject<{ type: string; sessionId?: string; fromSeq?: number }>();
    let now = 1000;
    const observer = observeRuns(scheduler, { appended$, now: () => now });
    const changes: RunChange[] = [];
    observer.changes$.subscribe((change) => changes.push(change));

    appended$.next({ type: 'appended', sessionId: 'root', fromSeq: 1 });
    appended$.next({ type: 'appended', sessionId: 'a', fromSeq: 1 });
    expect(scheduler.asked).toEqual([
      { sessionId: 'root', afterSeq: 0 },
      { sessionId: 'a', afterSeq: 0 },
    ]);
    scheduler.publish('root', { type: 'sub_session_started', ...ids('root', 'a', 'ra') });
    expect(observer.open()).toMatchObject([{ runId: 'ra', state: 'queued', startSeen: true }]);
    scheduler.publish('root', beat('root', 'a', 'ra'));
    scheduler.publish('a', { type: 'sub_session_started', ...ids('a', 'b', 'rb') });
    // The copy forwarded to root is not read twice: the front door watches without unwrapping.
    scheduler.publish('root', {
      type: 'sub_session_event',
      ...ids('root', 'a', 'ra'),
      event: { type: 'sub_session_started', ...ids('a', 'b', 'rb') },
    });
    scheduler.publish('root', beat('root', 'a', 'ra', ['b']));
    expect(observer.open().map((run) => [run.runId, run.state, run.parentRunId])).toEqual([
      ['ra', 'waiting', undefined],
      ['rb', 'queued', 'ra'],
    ]);
    now = 4000;
    scheduler.publish('a', { type: 'sub_session_completed', ...ids('a', 'b', 'rb'), status: 'cancelled', reason: 'user' });
    scheduler.publish('root', {
      type: 'sub_session_event',
      ...ids('root', 'a', 'ra'),
      event: { type: 'complete', usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } },
    });
    scheduler.publish('root', { type: 'sub_session_completed', ...ids('root', 'a', 'ra'), status: 'completed' });
    scheduler.publish('root', { type: 'sub_session_completed', ...ids('root', 'a', 'ra'), status: 'completed' });
    const ended = changes.filter((change) => change.type === 'ended').map((change) => change.run);
    expect(ended).toEqual([
      expect.objectContaining({ runId: 'rb', status: 'cancelled', reason: 'user', startedAt: 1000, endedAt: 4000 }),
      expect.objectContaining({ runId: 'ra', status: 'completed', usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 } }),
    ]);
    expect(observer.open()).toEqual([]);
    observer.unsubscribe();
  });

  it('a watched root covers its tree; a run first seen by its heartbeat has no start', () => {
    const scheduler = fakeScheduler();
    const observer = observeRuns(scheduler, { now: () => 0 });
    const changes: RunChange[] = [];
    observer.changes$.subscribe((change) => changes.push(change));
    observer.watch('root');
    observer.watch('a'); // also watching a child changes nothing: each run is reported once
    scheduler.publish('root', beat('root', 'a', 'ra'));
    scheduler.publish('a', { type: 'sub_session_started', ...ids('a', 'b', 'rb') });
    scheduler.publish('root', {
      type: 'sub_session_event',
      ...ids('root', 'a', 'ra'),
      event: { type: 'sub_session_started', ...ids('a', 'b', 'rb') },
    });
    expect(changes.map(({ type, run }) => [type, run.runId, run.startSeen, run.parentRunId])).toEqual([
      ['started', 'ra', false, undefined],
      ['started', 'rb', true, 'ra'],
    ]);
    observer.unsubscribe();
  });
});
