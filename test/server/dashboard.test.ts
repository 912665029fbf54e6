import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/clock.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { api, createRoot, startTestServer, tempDir, type TestServer } from './support/test-server.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
const executablePath = chromiumPath();

/** Children take a second or so (tokens every 25 ms, a tool call); `[hang]` runs until cancelled. */
const agent = () =>
  scriptedAgent({
    clock: systemClock,
    script: (session) =>
      (session.messages.at(-1)?.content ?? '').includes('[hang]')
        ? [{ tokens: 'Crawling the archive', every: 20 }, { tool: { name: 'crawl_site', args: { depth: 5 }, duration: 600_000 } }]
        : [
            { tokens: 'Reading the sources one by one now', every: 25, reasoning: true },
            { tool: { name: 'web_search', args: { q: session.title }, result: '4 results', duration: 300 } },
            { tokens: 'Four sources agree on this', every: 25 },
          ],
    answer: (session) => `Four sources agree on ${session.title}`,
  });

describe.skipIf(executablePath === undefined)('dashboard in real Chromium', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('shows children progress to completed, cancels a run (reason user), highlights the live state, and resumes after a server restart without gaps or duplicates', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const path = tmp.file('dashboard.db');
    let t: TestServer = await startTestServer({
      store: new SqliteSessionStore({ path }),
      agent: agent(),
      scheduler: { heartbeatIntervalMs: 200 },
      server: { retryMs: 200 },
    });
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url, 'Release checklist');
    const spawn = async (title: string, prompt: string) =>
      (await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, { body: { title, prompt } })).body.childSessionId;
    const survey = await spawn('Survey sources', 'Find sources');
    const licences = await spawn('Check licences', 'Check them');
    const crawl = await spawn('Crawl archive', '[hang] crawl everything');

    const browser = await launchChromium(executablePath!);
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      // While the server restarts, the page's retries are refused: expected, not an error of the page.
      if (message.type() === 'error' && !message.text().includes('ERR_CONNECTION_REFUSED')) pageErrors.push(message.text());
    });
    await page.goto(`${t.url}/?root=${rootId}`);

    const row = (id: string) => page.locator(`[data-testid="session-${id}"]`);
    await row(survey).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 60_000 });
    await row(licences).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 60_000 });
    await expect.poll(() => row(survey).textContent(), { timeout: 30_000 }).toContain('Four sources agree on Survey sources');

    // The running child: its row and the job statechart show the live `running` state.
    await row(crawl).click();
    await page.locator('[data-testid="job-chart"] g.state.active[data-state-id="spawnJob.running"]').waitFor({ timeout: 60_000 });
    await page
      .locator('[data-testid="scheduler-chart"] g.state.active[data-state-id="spawnScheduler.accepting"]')
      .waitFor({ timeout: 60_000 });
    expect(await row(crawl).locator('[data-testid="job-state"]').textContent()).toBe('running');
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = `${ARTIFACTS}dashboard.png`;
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`dashboard screenshot: ${shot}`);

    await page.locator(`[data-testid="cancel-${crawl}"]`).click();
    await row(crawl).and(page.locator('[data-status="cancelled"]')).waitFor({ timeout: 60_000 });
    expect(await t.scheduler.getChild(crawl)).toMatchObject({ status: 'cancelled', reason: 'user' });
    await page.locator('[data-testid="job-chart"] g.state.active[data-state-id="spawnJob.cancelled"]').waitFor({ timeout: 60_000 });
    expect(await row(crawl).textContent()).toContain('reason user');

    // Restart the server on the same port and file: the page resumes with Last-Event-ID.
    const conn = page.locator('[data-testid="conn"]');
    const lastBefore = Number(await conn.getAttribute('data-last-id'));
    const port = t.port;
    await t.close('drain');
    t = await startTestServer({
      store: new SqliteSessionStore({ path }),
      agent: agent(),
      port,
      scheduler: { heartbeatIntervalMs: 200 },
      server: { retryMs: 200 },
    });
    cleanups.push(() => t.close());
    const after = await spawn('After restart', 'Find more');
    await row(after).and(page.locator('[data-status="completed"]')).waitFor({ timeout: 60_000 });
    await expect.poll(async () => Number(await conn.getAttribute('data-reconnects')), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(Number(await conn.getAttribute('data-last-id'))).toBeGreaterThan(lastBefore);
    expect(await conn.getAttribute('data-gaps')).toBe('0');
    expect(await conn.getAttribute('data-duplicates')).toBe('0');
    await page.screenshot({ path: `${ARTIFACTS}dashboard-after-restart.png`, fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 240_000);
});
