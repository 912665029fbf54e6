import { SproutValidationError } from '../../src/errors.js';
import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { SchedulerDiagnostic } from '../../src/api/scheduler-diagnostic.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';
import { collect, completionsIn, jobFor } from '../support/batch-b.js';

const seqs = (envelopes: readonly SessionEventEnvelope[]): number[] => envelopes.map((e) => e.seq);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('replay of retained events', () => {
  it('retains events published while nobody subscribes and replays them with afterSeq: 0', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'one two three' }, { wait: 6000 }], answer: 'done' },
      seed: [rootSession(), rootSession('quiet'), childSession('c1', 'quiet')],
    });
    const { runId } = await h.scheduler.enqueue(jobFor('c1', 'quiet'));
    await h.until(() => (h.agent.calls[0]?.settledAt ?? -1) >= 0 && h.scheduler.actor.getSnapshot().context.running === 0, 'run ended');
    await h.settle();

    const { envelopes } = collect(h.scheduler.events('quiet', { afterSeq: 0 }));
    expect(seqs(envelopes)).toEqual(range(1, envelopes.length));
    expect(envelopes.every((e) => e.sessionId === 'quiet')).toBe(true);
    expect(envelopes[0]?.event).toMatchObject({ type: 'sub_session_started', child_session_id: 'c1', run_id: runId });
    expect(envelopes.at(-1)?.event).toMatchObject({ type: 'sub_session_completed', status: 'completed', result: 'done' });
    const types = envelopes.map((e) => e.event.type);
    expect(types.filter((t) => t === 'sub_session_heartbeat')).toHaveLength(2);
    const tokens = envelopes.flatMap((e) =>
      e.event.type === 'sub_session_event' && e.event.event.type === 'token' ? [e.event.event.content] : [],
    );
    expect(tokens.join('')).toBe('one two three');
  });

  it('afterSeq: n replays only seq > n, then continues live with no gap and no duplicate', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'a b c d e f g h', every: 1000 }], answer: 'fin' },
      seed: [rootSession(), childSession('c1')],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.advance(3000);
    const before = h.rootEvents.length;
    expect(before).toBeGreaterThan(4);

    const late = collect(h.scheduler.events('root', { afterSeq: 3 }));
    expect(seqs(late.envelopes)).toEqual(range(4, before));
    expect(late.envelopes).toEqual(h.rootEvents.slice(3));

    await h.until(() => h.completions().length === 1);
    expect(h.rootEvents.length).toBeGreaterThan(before);
    expect(seqs(late.envelopes)).toEqual(range(4, h.rootEvents.length));
    expect(late.envelopes).toEqual(h.rootEvents.slice(3));
  });

  it('afterSeq at the last seq replays nothing and goes live; past it is refused with a typed error', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }, { tokens: 'x' }] }, seed: [rootSession(), childSession('c1')] });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    const last = h.rootEvents.at(-1)!.seq;
    const atLast = collect(h.scheduler.events('root', { afterSeq: last }));
    expect(atLast.envelopes).toEqual([]);
    // Past the end would silently drop live events until seq caught up: refused instead.
    expect(() => h.scheduler.events('root', { afterSeq: last + 10 })).toThrow(SproutValidationError);
    expect(() => h.scheduler.events('root', { afterSeq: last + 1 })).toThrow(/past the end of the stream \(last seq \d+\)/);
    expect(() => h.scheduler.events('never-seen', { afterSeq: 1 })).toThrow(SproutValidationError);
    expect(collect(h.scheduler.events('never-seen', { afterSeq: 0 })).envelopes).toEqual([]);
    await h.until(() => h.completions().length === 1);
    expect(atLast.envelopes).toEqual(h.rootEvents.slice(last));
  });

  // Pins a fixed bug: `afterSeq: NaN` was compared as `seq > NaN`, so every live event was dropped
  // with no error and no stream_truncated (a silent gap, docs/job-lifecycle.md). It must be refused or read
  // as "from the start".
  it('afterSeq: NaN never silently drops events', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'a b c' }] }, seed: [rootSession(), childSession('c1')] });
    const got: SessionEventEnvelope[] = [];
    const errors: unknown[] = [];
    let threw: unknown;
    try {
      h.scheduler.events('root', { afterSeq: Number.NaN }).subscribe({ next: (e) => got.push(e), error: (e: unknown) => errors.push(e) });
    } catch (error) {
      threw = error;
    }
    await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);
    const refused = threw !== undefined || errors.length > 0;
    expect(refused ? 'refused' : got).toEqual(refused ? 'refused' : h.rootEvents);
  });

  it('with eventRetention 5, a late subscriber first gets stream_truncated, then the retained events in order', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'abcdefghijklmnopqr', chunk: 1 }], answer: 'z' },
      scheduler: { eventRetention: 5 },
      seed: [rootSession(), childSession('c1')],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);
    const total = h.rootEvents.length;
    expect(total).toBeGreaterThanOrEqual(20);

    const { envelopes } = collect(h.scheduler.events('root', { afterSeq: 0 }));
    const firstRetained = total - 4;
    expect(envelopes).toHaveLength(6);
    expect(envelopes[0]).toEqual({
      seq: firstRetained - 1,
      sessionId: 'root',
      event: { type: 'stream_truncated', first_retained_seq: firstRetained },
    });
    expect(envelopes.slice(1)).toEqual(h.rootEvents.slice(total - 5));
    expect(seqs(envelopes.slice(1))).toEqual(range(firstRetained, total));

    // Asking from just before the first retained one is no gap: no truncation marker.
    const exact = collect(h.scheduler.events('root', { afterSeq: firstRetained - 1 }));
    expect(exact.envelopes).toEqual(h.rootEvents.slice(total - 5));
    // Any older position is a gap.
    const older = collect(h.scheduler.events('root', { afterSeq: firstRetained - 2 }));
    expect(older.envelopes[0]?.event).toEqual({ type: 'stream_truncated', first_retained_seq: firstRetained });
    expect(older.envelopes).toHaveLength(6);
  });

  it('events() without afterSeq is live-only', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }, { tokens: 'later' }] }, seed: [rootSession(), childSession('c1')] });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    const seen = h.rootEvents.at(-1)!.seq;
    expect(seen).toBeGreaterThanOrEqual(2);
    const live = collect(h.scheduler.events('root'));
    expect(live.envelopes).toEqual([]);
    await h.until(() => h.completions().length === 1);
    expect(live.envelopes.length).toBeGreaterThan(0);
    expect(live.envelopes).toEqual(h.rootEvents.slice(seen));
  });
});

describe('misbehaving subscribers', () => {
  it('a subscriber that throws disturbs neither the run nor another subscriber, and is reported', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'a b c' }, { wait: 6000 }], answer: 'ok' },
      seed: [rootSession(), childSession('c1')],
    });
    const fromStream: SchedulerDiagnostic[] = [];
    h.scheduler.diagnostics$.subscribe((d) => fromStream.push(d));
    let thrown = 0;
    h.scheduler.events('root').subscribe(() => {
      thrown += 1;
      throw new Error(`subscriber bug ${thrown}`);
    });
    const other = collect(h.scheduler.events('root'));

    await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);

    expect(h.completions()[0]).toMatchObject({ status: 'completed', result: 'ok' });
    expect(other.envelopes).toEqual(h.rootEvents);
    expect(thrown).toBe(h.rootEvents.length);
    const reported = h.diagnostics.filter((d) => d.kind === 'subscriber_error');
    expect(reported).toHaveLength(thrown);
    expect(reported[0]).toEqual({ kind: 'subscriber_error', error: new Error('subscriber bug 1') });
    expect(fromStream.filter((d) => d.kind === 'subscriber_error')).toHaveLength(thrown);
  });

  it('a subscriber that throws while replaying still gets every event, and so does everyone else', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'a b' }, { wait: 1000 }] }, seed: [rootSession(), childSession('c1')] });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    const got: number[] = [];
    h.scheduler.events('root', { afterSeq: 0 }).subscribe((e) => {
      got.push(e.seq);
      throw new Error('boom');
    });
    await h.until(() => h.completions().length === 1);
    expect(got).toEqual(seqs(h.rootEvents));
    expect(h.diagnostics.filter((d) => d.kind === 'subscriber_error')).toHaveLength(got.length);
  });

  it('a subscriber that publishes while replaying sees every event exactly once, in seq order', async () => {
    const h = await createHarness({
      agent: { scripts: { c1: [{ tokens: 'a b c' }, { hang: true }] }, script: [{ wait: 1000 }] },
      scheduler: { concurrency: 1 },
      seed: [rootSession(), childSession('c1'), childSession('c2')],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    expect(h.rootEvents.length).toBeGreaterThanOrEqual(5);
    const retained = h.rootEvents.length;

    const got: SessionEventEnvelope[] = [];
    let acted = false;
    h.scheduler.events('root', { afterSeq: 0 }).subscribe((envelope) => {
      got.push(envelope);
      if (acted) return;
      acted = true;
      // Publishes sub_session_started synchronously, in the middle of the replay…
      h.scheduler.actor.send({ type: 'scheduler.enqueue', requestId: 'from-subscriber', runId: 'run-c2', job: jobFor('c2') });
      // …and ends c1 (its events and completion follow).
      void h.scheduler.cancel('c1');
    });
    // The replay was not cut short by the publish.
    expect(got.length).toBeGreaterThan(retained);
    expect(seqs(got)).toEqual(range(1, got.length));

    await h.until(() => h.completions().length === 2, 'c1 cancelled and c2 completed');
    await h.advance(10_000);
    expect(seqs(got)).toEqual(range(1, h.rootEvents.length));
    expect(got).toEqual(h.rootEvents);
    expect(completionsIn(got).map((c) => [c.child_session_id, c.status])).toEqual([
      ['c1', 'cancelled'],
      ['c2', 'completed'],
    ]);
  });

  it('a subscriber that unsubscribes during replay (take) gets nothing more', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'a b c d' }, { wait: 1000 }] },
      seed: [rootSession(), childSession('c1')],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.settle();
    const got: number[] = [];
    let completed = false;
    h.scheduler
      .events('root', { afterSeq: 0 })
      .pipe(take(2))
      .subscribe({ next: (e) => got.push(e.seq), complete: () => (completed = true) });
    expect(got).toEqual([1, 2]);
    expect(completed).toBe(true);
    await h.until(() => h.completions().length === 1);
    expect(got).toEqual([1, 2]);
    expect(h.diagnostics).toEqual([]);
  });
});
