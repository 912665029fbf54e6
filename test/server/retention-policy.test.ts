// Issue 21 item 3: a documented retention policy for ended sessions, run by the server. With
// `retainDays`, the server deletes ended root trees idle for longer than that — once when it
// starts and then every interval, on the injected clock — through the same path as a DELETE:
// sessions, events and open streams go. Trees with a queued or running run, or with recent
// activity anywhere in them, stay. Before the fix there was no such option: nothing was ever
// deleted unless a client asked.
import { afterEach, describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import { parseServeArgs } from '../../src/cli/serve-args.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { toRfc3339 } from '../../src/clock.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import type { RetentionReport } from '../../src/server/retention-sweeper.js';
import { advance, flushMicrotasks, runUntil } from '../../src/testing/simulated-clock.js';
import { childSession, createHarness, rootSession, type Harness } from '../support/harness.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 10);

describe('retention policy (retainDays)', () => {
  let h: Harness | undefined;
  let store: SqliteSessionStore | undefined;
  afterEach(async () => {
    await h?.scheduler.stop({ mode: 'cancel' });
    store?.close();
    h = undefined;
    store = undefined;
  });

  it('deletes ended trees idle past the cutoff at start and every interval, keeps running or recently active ones', async () => {
    store = new SqliteSessionStore({ path: ':memory:' });
    const eventLog = new SqliteEventLog(store);
    const old = '2026-01-01T00:00:00.000Z';
    h = await createHarness({
      store,
      seed: [rootSession('root'), rootSession('busy'), rootSession('touched'), childSession('c-touched', 'touched')],
      agent: {
        script: (session) =>
          (session.messages.at(-1)?.content ?? '').includes('[hang]') ? [{ hang: true }] : [{ tokens: 'all done', every: 10 }],
        answer: 'done',
      },
      scheduler: { eventLog, heartbeatIntervalMs: 1000 },
    });
    const { clock, scheduler } = h;
    clock.set(T0);
    const ended = await scheduler.spawnChild('root', { title: 'Ended', prompt: 'work' });
    const running = await scheduler.spawnChild('busy', { title: 'Running', prompt: '[hang] forever' });
    await runUntil(async () => (await scheduler.getChild(ended.childSessionId))?.status === 'completed', {
      clock,
      maxMs: 600_000,
      stepMs: 1000,
      description: 'ended child completes',
    });
    expect(h.eventsOf('root').length).toBeGreaterThan(0);

    // Two days later: `touched` had activity in its child yesterday; `fresh` was created today.
    clock.set(T0 + 2 * DAY);
    await flushMicrotasks();
    const yesterday = toRfc3339(T0 + 1.5 * DAY);
    await store.save({ ...(await store.load('c-touched'))!, updated_at: yesterday });
    await store.save(rootSession('fresh', { created_at: toRfc3339(clock.now()), updated_at: toRfc3339(clock.now()) }));
    expect((await store.load('root'))!.created_at).toBe(old);

    const reports: RetentionReport[] = [];
    const errors: unknown[] = [];
    const server = createSproutServer({
      scheduler,
      store,
      clock,
      retainDays: 1,
      retentionIntervalMs: HOUR,
      onRetention: (report) => reports.push(report),
      onError: (error) => errors.push(error),
    });
    // An open SSE stream of the tree that goes: it ends.
    const response = await server.fetch(
      new Request('http://localhost/v1/sessions/root/events', { headers: { accept: 'text/event-stream' } }),
    );
    const body = response.body!.getReader();
    const streamEnded = (async () => {
      for (;;) if ((await body.read()).done) return true;
    })();

    server.retention!.start();
    await h.until(() => reports.length === 1, 'first pass');
    expect(reports[0]).toEqual({
      cutoff: toRfc3339(T0 + DAY),
      roots: 1,
      sessions: 2,
      kept: 2, // busy (a running run), touched (a child active yesterday)
      scanned: 3, // fresh was created after the cutoff: the pass stops there
      failed: 0,
    });
    expect(await store.load('root')).toBeUndefined();
    expect(await store.load(ended.childSessionId)).toBeUndefined();
    expect(eventLog.read('root', 0).envelopes).toEqual([]);
    expect(await streamEnded).toBe(true);
    for (const id of ['busy', running.childSessionId, 'touched', 'c-touched', 'fresh']) expect(await store.load(id)).toBeDefined();

    // `touched` goes on the first hourly pass whose cutoff is past its child's activity.
    await scheduler.cancel(running.childSessionId, 'user');
    await runUntil(async () => (await scheduler.getChild(running.childSessionId))?.status === 'cancelled', {
      clock,
      maxMs: 600_000,
      stepMs: 1000,
      description: 'busy child cancelled',
    });
    await advance(clock, 11 * HOUR);
    expect(await store.load('touched')).toBeDefined();
    await advance(clock, 2 * HOUR);
    expect(await store.load('touched')).toBeUndefined();
    expect(reports[13]).toMatchObject({ cutoff: toRfc3339(T0 + 1.5 * DAY + HOUR), roots: 1, sessions: 2 });
    // `busy` ended two days after T0 (its cancelled child was saved then): it goes a day later.
    await advance(clock, 11 * HOUR);
    expect(await store.load('busy')).toBeDefined();
    await advance(clock, 2 * HOUR);
    expect(await store.load('busy')).toBeUndefined();
    expect(await store.load(running.childSessionId)).toBeUndefined();
    expect(reports.length).toBe(27); // one at start, one per hour
    expect(errors).toEqual([]);

    await server.retention!.stop();
    const passes = reports.length;
    await advance(clock, 5 * HOUR);
    expect(reports.length).toBe(passes);
  });

  it('sprout serve --retain-days N sets it; off without the flag; a bad value is a usage error', () => {
    expect(parseServeArgs(['--retain-days', '30'], {}).retainDays).toBe(30);
    expect(parseServeArgs([], {}).retainDays).toBeUndefined();
    expect(() => parseServeArgs(['--retain-days', '0'], {})).toThrow(CliUsageError);
    expect(() => parseServeArgs(['--retain-days', 'soon'], {})).toThrow(/--retain-days must be an integer/);
  });

  it('is off by default', async () => {
    h = await createHarness();
    const server = createSproutServer({ scheduler: h.scheduler, store: h.store });
    expect(server.retention).toBeUndefined();
  });
});
