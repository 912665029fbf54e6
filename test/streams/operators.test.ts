import { Subject } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { childProgress, reduceChildProgress, type ChildProgressSnapshot } from '../../src/streams/operators/child-progress.js';
import { completionsOf } from '../../src/streams/operators/completions-of.js';
import { replayThenLive } from '../../src/streams/operators/replay-then-live.js';

const env = (seq: number, event: AgentEvent): SessionEventEnvelope => ({ seq, sessionId: 'p', event });
const started = (child: string, run: string): AgentEvent => ({
  type: 'sub_session_started',
  parent_session_id: 'p',
  child_session_id: child,
  run_id: run,
  title: `T ${child}`,
});
const token = (child: string, run: string): AgentEvent => ({
  type: 'sub_session_event',
  parent_session_id: 'p',
  child_session_id: child,
  run_id: run,
  event: { type: 'token', content: 'x' },
});
const tool = (child: string, run: string): AgentEvent => ({
  type: 'sub_session_event',
  parent_session_id: 'p',
  child_session_id: child,
  run_id: run,
  event: { type: 'tool_start', tool_call_id: 't1', tool_name: 'search', arguments: {} },
});
const beat = (child: string, run: string): AgentEvent => ({
  type: 'sub_session_heartbeat',
  parent_session_id: 'p',
  child_session_id: child,
  run_id: run,
  timestamp: '2026-01-01T00:00:00.000Z',
  events_seen: 0,
});
const done = (child: string, run: string, status: 'completed' | 'error' = 'completed'): AgentEvent => ({
  type: 'sub_session_completed',
  parent_session_id: 'p',
  child_session_id: child,
  run_id: run,
  status,
  ...(status === 'completed' ? { result: 'answer' } : { error: 'boom' }),
});

const marbles = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('replayThenLive', () => {
  it('replays first, then goes live with no gap and no duplicate (marbles)', () => {
    marbles().run(({ hot, expectObservable }) => {
      // The live source already emitted seq 1–3 (retained); 3 arrives again while replaying.
      const live$ = hot('--c-d-e|', { c: { seq: 3 }, d: { seq: 4 }, e: { seq: 5 } });
      const result$ = replayThenLive(() => [{ seq: 2 }, { seq: 3 }], live$, 1);
      expectObservable(result$).toBe('(ab)d-e|', { a: { seq: 2 }, b: { seq: 3 }, d: { seq: 4 }, e: { seq: 5 } });
    });
  });

  it('an item published while the replay is read is buffered and delivered once, in order', () => {
    const live$ = new Subject<{ seq: number }>();
    const seen: number[] = [];
    replayThenLive(() => {
      live$.next({ seq: 3 }); // arrives during the read
      return [{ seq: 1 }, { seq: 2 }, { seq: 3 }];
    }, live$).subscribe((item) => seen.push(item.seq));
    live$.next({ seq: 3 });
    live$.next({ seq: 4 });
    expect(seen).toEqual([1, 2, 3, 4]);
  });

  it('a failing replay errors the stream and unsubscribes from live', () => {
    const live$ = new Subject<{ seq: number }>();
    let error: unknown;
    replayThenLive(() => {
      throw new Error('log offline');
    }, live$).subscribe({ error: (e: unknown) => (error = e) });
    expect((error as Error).message).toBe('log offline');
    expect(live$.observed).toBe(false);
  });
});

describe('completionsOf', () => {
  it('keeps the completions (of one child when asked), unwrapped (marbles)', () => {
    marbles().run(({ cold, expectObservable }) => {
      const source$ = cold('abcd|', {
        a: env(1, started('c1', 'r1')),
        b: env(2, token('c1', 'r1')),
        c: env(3, done('c1', 'r1')),
        d: env(4, done('c2', 'r2')),
      });
      expectObservable(source$.pipe(completionsOf())).toBe('--cd|', { c: done('c1', 'r1'), d: done('c2', 'r2') });
      expectObservable(source$.pipe(completionsOf('c2'))).toBe('---d|', { d: done('c2', 'r2') });
    });
  });
});

describe('childProgress', () => {
  it('folds a parent stream into one row per child (marbles, time from the scheduler)', () => {
    const scheduler = marbles();
    scheduler.run(({ cold, expectObservable }) => {
      const source$ = cold('a-b-c-d-e|', {
        a: env(1, started('c1', 'r1')),
        b: env(2, beat('c1', 'r1')),
        c: env(3, token('c1', 'r1')),
        d: env(4, tool('c1', 'r1')),
        e: env(5, done('c1', 'r1')),
      });
      const rows$ = source$.pipe(childProgress(() => scheduler.now()));
      const row = (over: object) =>
        new Map([
          ['c1', { childSessionId: 'c1', runId: 'r1', title: 'T c1', tokens: 0, toolCalls: 0, eventsSeen: 0, queuedAt: 0, ...over }],
        ]);
      expectObservable(rows$).toBe('a-b-c-d-e|', {
        a: row({ state: 'queued' }),
        b: row({ state: 'running', startedAt: 2, lastHeartbeatAt: 2 }),
        c: row({ state: 'running', startedAt: 2, lastHeartbeatAt: 2, tokens: 1, eventsSeen: 1 }),
        d: row({ state: 'running', startedAt: 2, lastHeartbeatAt: 2, tokens: 1, eventsSeen: 2, toolCalls: 1, activeTool: 'search' }),
        e: row({
          state: 'completed',
          startedAt: 2,
          lastHeartbeatAt: 2,
          tokens: 1,
          eventsSeen: 2,
          toolCalls: 1,
          endedAt: 8,
          result: 'answer',
        }),
      });
    });
  });

  it('ignores events of a stale run and anything after the completion; a new run starts a fresh row', () => {
    let snapshot: ChildProgressSnapshot = new Map();
    const apply = (envelope: SessionEventEnvelope) => (snapshot = reduceChildProgress(snapshot, envelope, envelope.seq));
    apply(env(1, started('c1', 'r1')));
    apply(env(2, done('c1', 'r1', 'error')));
    const afterEnd = snapshot;
    apply(env(3, token('c1', 'r1')));
    expect(snapshot).toBe(afterEnd); // unchanged: same reference
    apply(env(4, started('c1', 'r2')));
    apply(env(5, token('c1', 'r1'))); // the old run
    expect(snapshot.get('c1')).toMatchObject({ runId: 'r2', state: 'queued', tokens: 0 });
  });
});
