// Issue 21 item 6, "dashboard truth", in real Chromium: a run's duration comes from the server's
// timestamps, never from the moment the page saw its completion (after a restart a ~1 s run of
// yesterday showed as a day); runs whose events retention dropped read their outcome, answer,
// tokens and duration from the stored child session; and the page says it shows less than every
// run instead of "gaps 0". 90 children under one root, a small event retention, a SQLite file,
// the server restarted twice.
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { toRfc3339 } from '../../src/clock.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { createTestClock, runUntil } from '../../src/testing/simulated-clock.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { api, startTestServer, tempDir, type TestServer } from './support/test-server.js';

const executablePath = chromiumPath();
const CHILDREN = 90;
/** Events kept per session: the root stream keeps the last few dozen children's. */
const RETENTION = 300;

describe.skipIf(executablePath === undefined)('dashboard truth in real Chromium', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('shows server-side durations after restarts, outcomes of runs whose events were dropped, and says what it shows', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const path = tmp.file('truth.db');

    // Yesterday, on a simulated clock: 90 children of about a second each (five tokens 200 ms
    // apart), eight at a time.
    const clock = createTestClock({ now: Date.now() - 86_400_000 });
    const store = new SqliteSessionStore({ path });
    const scheduler = createSpawnScheduler({
      store,
      clock,
      agent: scriptedAgent({
        clock,
        script: [{ tokens: 'one two three four five', every: 200 }],
        answer: (session) => `Answer for ${session.title}`,
      }),
      concurrency: 8,
      perParentConcurrency: 8,
      heartbeatIntervalMs: 500,
      eventRetention: RETENTION,
    });
    await scheduler.start();
    const rootId = 'root-ninety';
    const at = toRfc3339(clock.now());
    await store.save({
      id: rootId,
      title: 'Ninety tasks',
      kind: 'root',
      root_session_id: rootId,
      spawn_depth: 0,
      model: 'm',
      messages: [],
      metadata: {},
      created_at: at,
      updated_at: at,
    });
    let completed = 0;
    const subscription = scheduler.events(rootId, { afterSeq: 0 }).subscribe(({ event }) => {
      if (event.type === 'sub_session_completed') completed += 1;
    });
    const children: string[] = [];
    for (let i = 0; i < CHILDREN; i++)
      children.push((await scheduler.spawnChild(rootId, { title: `Task ${i}`, prompt: `Do task ${i}` })).childSessionId);
    await runUntil(() => completed === CHILDREN, { clock, stepMs: 100, maxMs: 120_000, description: 'every child completed' });
    subscription.unsubscribe();
    await scheduler.stop({ mode: 'drain' });
    store.close();

    // Today, on the real clock: the server restarted on the same file.
    const serverOptions = { scheduler: { eventRetention: RETENTION }, server: { retryMs: 200 } };
    let t: TestServer = await startTestServer({ store: new SqliteSessionStore({ path }), ...serverOptions });
    cleanups.push(() => t.close());
    const browser = await launchChromium(executablePath!);
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error' && !message.text().includes('ERR_CONNECTION_REFUSED')) pageErrors.push(message.text());
    });
    await page.goto(`${t.url}/?root=${rootId}`);

    const row = (id: string) => page.locator(`[data-testid="session-${id}"]`);
    const coverage = page.locator('[data-testid="coverage"]');
    await coverage.waitFor({ timeout: 60_000 });
    await expect.poll(() => coverage.getAttribute('data-total'), { timeout: 30_000 }).toBe(String(CHILDREN));
    const shown = Number(await coverage.getAttribute('data-shown'));
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThan(CHILDREN);
    expect(await coverage.textContent()).toContain(`Showing ${shown} of ${CHILDREN} runs from the event stream`);
    expect(await coverage.textContent()).toContain('dropped by retention');
    const conn = page.locator('[data-testid="conn"]');
    expect(await conn.getAttribute('data-truncated-at')).not.toBe('');
    expect(await conn.textContent()).not.toContain('gaps 0');

    /** Every child row reads completed, with its answer, five tokens and a duration of the run (not of a day). */
    const checkRows = async (): Promise<{ stored: number }> => {
      let stored = 0;
      for (const [i, id] of children.entries()) {
        const r = row(id);
        await expect.poll(() => r.getAttribute('data-status'), { timeout: 30_000 }).toBe('completed');
        await expect.poll(async () => (await r.textContent()) ?? '', { timeout: 30_000 }).toContain(`Answer for Task ${i}`);
        await expect.poll(() => r.locator('[data-testid="tokens"]').textContent(), { timeout: 30_000 }).toBe('5 tok');
        await expect.poll(() => r.locator('[data-testid="elapsed"]').getAttribute('data-ms'), { timeout: 30_000 }).not.toBe('');
        const ms = Number(await r.locator('[data-testid="elapsed"]').getAttribute('data-ms'));
        const fromStore = (await r.locator('[data-testid="stored"]').count()) > 0;
        if (fromStore) {
          stored += 1;
          // After a restart nothing kept the run's start: queued → ended, from the stored session
          // (eight at a time, so at most a few runs' worth of waiting).
          expect(ms).toBeGreaterThanOrEqual(700);
          expect(ms).toBeLessThan(20_000);
        } else {
          // First heartbeat → the stored end: the run itself (five tokens 200 ms apart: 800 ms).
          expect(ms).toBeGreaterThanOrEqual(700);
          expect(ms).toBeLessThan(2_000);
        }
      }
      return { stored };
    };
    const before = await checkRows();
    expect(before.stored).toBe(CHILDREN - shown);

    // Restart again while the page is open: it resumes, and the rows stay true.
    const port = t.port;
    await t.close('drain');
    t = await startTestServer({ store: new SqliteSessionStore({ path }), port, ...serverOptions });
    cleanups.push(() => t.close());
    const spawned = await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, {
      body: { title: 'After restart', prompt: 'Find more' },
    });
    const after = spawned.body.childSessionId;
    await row(after).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 60_000 });
    await expect.poll(async () => Number(await conn.getAttribute('data-reconnects')), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => row(after).locator('[data-testid="elapsed"]').getAttribute('data-ms'), { timeout: 30_000 }).not.toBe('');
    expect(Number(await row(after).locator('[data-testid="elapsed"]').getAttribute('data-ms'))).toBeLessThan(5_000);
    expect(await conn.getAttribute('data-duplicates')).toBe('0');
    await checkRows();
    expect(pageErrors).toEqual([]);
  }, 300_000);
});
