// SessionEventHub on an asynchronous EventLog (every answer a promise, one to four setImmediate
// turns later, so answers arrive in another order than the calls):
// order per session, no gap and no duplicate between replay and live, and refused appends. Every
// wait is on a condition (a publish's promise, `settled()`, a subscriber reaching a seq), never on
// wall-clock time.
import { describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { SessionEventHub, type SessionEventsOptions } from '../../src/streams/session-event-hub.js';
import { AsyncEventLog } from '../conformance/async-event-log.js';

const token = (content: string): AgentEvent => ({ type: 'token', content });
const range = (from: number, to: number): number[] => Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);

/** Refuses every token whose content starts with `bad`. */
const refuseBad = (_sessionId: string, event: AgentEvent): Error | undefined =>
  event.type === 'token' && event.content.startsWith('bad') ? new Error(`log refused ${event.content}`) : undefined;

/** A subscription that records what it gets and can be waited on until it has seen a seq. */
class Recorder {
  readonly envelopes: SessionEventEnvelope[] = [];
  readonly #waiting: { seq: number; resolve: () => void }[] = [];

  constructor(
    hub: SessionEventHub,
    sessionId: string,
    readonly options: SessionEventsOptions = {},
    onEnvelope?: (envelope: SessionEventEnvelope) => void,
  ) {
    hub.events$(sessionId, options).subscribe((envelope) => {
      this.envelopes.push(envelope);
      onEnvelope?.(envelope);
      for (const waiter of this.#waiting.filter((w) => w.seq <= envelope.seq)) {
        this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    });
  }

  get seqs(): number[] {
    return this.envelopes.map((e) => e.seq);
  }

  /** Resolves once an envelope with `seq` or later arrived. */
  until(seq: number): Promise<void> {
    if ((this.envelopes.at(-1)?.seq ?? 0) >= seq) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ seq, resolve }));
  }
}

/** Answers arrive out of call order: 0 to 3 extra turns, varying from call to call. */
const shuffledAnswers = (n: number): number => (n * 7) % 4;

function setup(options: { retention?: number; onLogError?: boolean } = {}) {
  const subscriberErrors: unknown[] = [];
  const logErrors: unknown[] = [];
  const log = new AsyncEventLog(new MemoryEventLog({ retention: options.retention ?? 1000 }), {
    refuse: refuseBad,
    answerDelay: shuffledAnswers,
  });
  const hub = new SessionEventHub(
    log,
    (error) => subscriberErrors.push(error),
    options.onLogError === false ? undefined : (error) => logErrors.push(error),
  );
  return { log, hub, subscriberErrors, logErrors };
}

describe('SessionEventHub on an asynchronous event log', () => {
  it('with a synchronous log, publish returns the envelope at once and delivers it in the same call', () => {
    const hub = new SessionEventHub(new MemoryEventLog(), (error) => {
      throw error;
    });
    const seen: number[] = [];
    hub.events$('a').subscribe((e) => seen.push(e.seq));
    expect(hub.publish('a', token('1'))).toEqual({ seq: 1, sessionId: 'a', event: token('1') });
    expect(seen).toEqual([1]);
  });

  it('publish returns a promise of the envelope; envelopes are delivered once the log accepted them, in publish order', async () => {
    const { hub, subscriberErrors } = setup();
    const live = new Recorder(hub, 'a');
    const answers = [
      hub.publish('a', token('1')),
      hub.publish('b', token('1')),
      hub.publish('a', token('2')),
      hub.publish('a', token('3')),
    ];
    for (const answer of answers) expect(answer).toBeInstanceOf(Promise);
    expect(live.seqs).toEqual([]); // nothing before the log answered
    expect(await Promise.all(answers.map(async (answer) => await answer))).toEqual([
      { seq: 1, sessionId: 'a', event: token('1') },
      { seq: 1, sessionId: 'b', event: token('1') },
      { seq: 2, sessionId: 'a', event: token('2') },
      { seq: 3, sessionId: 'a', event: token('3') },
    ]);
    await hub.settled();
    expect(live.envelopes.map((e) => e.event)).toEqual([token('1'), token('2'), token('3')]);
    expect(live.seqs).toEqual([1, 2, 3]);
    expect(await hub.lastSeq('a')).toBe(3);
    expect(subscriberErrors).toEqual([]);
  });

  it('settled() resolves once every publish so far was delivered, and at once when none is pending', async () => {
    const { hub } = setup();
    await hub.settled();
    const live = new Recorder(hub, 'a');
    for (let i = 1; i <= 20; i++) void hub.publish('a', token(String(i)));
    await hub.settled();
    expect(live.seqs).toEqual(range(1, 20));
  });

  it('live and replaying subscribers see every seq exactly once, in order, while publishes interleave with their replays', async () => {
    const { hub, log, subscriberErrors, logErrors } = setup();
    const recorders: Recorder[] = [];
    const pending: Promise<unknown>[] = [];
    // A subscriber that publishes while it is still replaying (on seq 5 of its replay).
    const reentrant = new Recorder(hub, 'a', { afterSeq: 0 }, (envelope) => {
      if (envelope.seq === 5) pending.push(Promise.resolve(hub.publish('a', token('from a replaying subscriber'))));
    });
    recorders.push(reentrant);
    for (let i = 1; i <= 80; i++) {
      const answer = Promise.resolve(hub.publish('a', token(`a${i}`)));
      pending.push(answer);
      if (i % 3 === 0) pending.push(Promise.resolve(hub.publish('b', token(`b${i}`))));
      // Subscribe while appends are in flight: some replay from the start, some from the middle, some live only.
      if (i % 7 === 0) recorders.push(new Recorder(hub, 'a', { afterSeq: 0 }));
      if (i % 9 === 0) recorders.push(new Recorder(hub, 'a', { afterSeq: Math.floor(i / 2) }));
      if (i % 11 === 0) recorders.push(new Recorder(hub, 'a'));
      // Let the log answer some of them before going on (the interleaving varies along the loop).
      if (i % 5 === 0) await answer;
      if (i % 13 === 0) await hub.lastSeq('a');
    }
    await Promise.all(pending);
    await hub.settled();
    const lastSeq = await hub.lastSeq('a');
    expect(lastSeq).toBe(81);
    // A replaying subscriber that subscribed last may still be reading: wait until each has the last seq.
    await Promise.all(recorders.map((recorder) => recorder.until(lastSeq)));

    const stored = (await log.read('a', 0)).envelopes;
    expect(stored.map((e) => e.seq)).toEqual(range(1, lastSeq));
    for (const recorder of recorders) {
      const { afterSeq } = recorder.options;
      const first = afterSeq === undefined ? (recorder.seqs[0] ?? lastSeq) : afterSeq + 1;
      expect(recorder.seqs).toEqual(range(first, lastSeq));
      expect(recorder.envelopes).toEqual(stored.slice(first - 1));
    }
    expect(recorders.filter((r) => r.options.afterSeq !== undefined).length).toBeGreaterThan(10);
    expect(subscriberErrors).toEqual([]);
    expect(logErrors).toEqual([]);
  }, 60_000);

  it('a replay from before the retained events starts with stream_truncated, then goes live', async () => {
    const { hub } = setup({ retention: 3 });
    for (let i = 1; i <= 10; i++) void hub.publish('a', token(String(i)));
    await hub.settled();
    const replaying = new Recorder(hub, 'a', { afterSeq: 0 });
    const published = hub.publish('a', token('11')); // while the replay is being read
    await published;
    await replaying.until(11);
    expect(replaying.envelopes[0]).toEqual({ seq: 7, sessionId: 'a', event: { type: 'stream_truncated', first_retained_seq: 8 } });
    expect(replaying.seqs).toEqual([7, 8, 9, 10, 11]);
  });

  it('an append the log rejects delivers nothing and, with onLogError, resolves undefined; later appends deliver in order', async () => {
    const { hub, log, logErrors, subscriberErrors } = setup();
    const live = new Recorder(hub, 'a');
    const replaying = new Recorder(hub, 'a', { afterSeq: 0 });
    const answers = [hub.publish('a', token('good 1')), hub.publish('a', token('bad 1')), hub.publish('a', token('good 2'))];
    const [first, refused, second] = await Promise.all(answers.map(async (answer) => await answer));
    expect(first).toEqual({ seq: 1, sessionId: 'a', event: token('good 1') });
    expect(refused).toBeUndefined();
    expect(second).toEqual({ seq: 2, sessionId: 'a', event: token('good 2') });
    expect(logErrors.map((e) => (e as Error).message)).toEqual(['log refused bad 1']);

    // After the failure settled, the stream goes on where it was.
    const third = hub.publish('a', token('good 3'));
    const refusedAgain = hub.publish('a', token('bad 2'));
    const fourth = hub.publish('a', token('good 4'));
    expect(await refusedAgain).toBeUndefined();
    expect([(await third)?.seq, (await fourth)?.seq]).toEqual([3, 4]);
    await hub.settled();
    await replaying.until(4);

    const contents = ['good 1', 'good 2', 'good 3', 'good 4'].map(token);
    for (const recorder of [live, replaying]) {
      expect(recorder.seqs).toEqual([1, 2, 3, 4]);
      expect(recorder.envelopes.map((e) => e.event)).toEqual(contents);
    }
    expect(await log.read('a', 0)).toEqual({
      envelopes: contents.map((event, i) => ({ seq: i + 1, sessionId: 'a', event })),
      firstRetainedSeq: 1,
      lastSeq: 4,
    });
    expect(logErrors.length).toBe(2);
    expect(subscriberErrors).toEqual([]);
  });

  it('without onLogError a refused append rejects publish with the log error; the next append still delivers in order', async () => {
    const { hub } = setup({ onLogError: false });
    const live = new Recorder(hub, 'a');
    const good = hub.publish('a', token('good 1'));
    const bad = hub.publish('a', token('bad 1'));
    const after = hub.publish('a', token('good 2'));
    await expect(bad).rejects.toThrow('log refused bad 1');
    expect([(await good)?.seq, (await after)?.seq]).toEqual([1, 2]);
    await hub.settled();
    expect(live.envelopes.map((e) => e.event)).toEqual([token('good 1'), token('good 2')]);
  });
});
