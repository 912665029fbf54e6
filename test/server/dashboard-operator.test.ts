// The operator's dashboard (issue 22 item 2), in real Chromium against a SQLite-backed server on
// loopback with a scripted agent: the cause of a queued and a waiting run, a collapsible tree
// with per-subtree totals, the runs view with filters that survive a reload, bulk cancel from the
// UI, a run page opened by URL, a readable job statechart, and a usable 390 px layout.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../src/api/ports.js';
import { systemClock } from '../../src/clock.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { api, createRoot, startTestServer, tempDir } from './support/test-server.js';

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url));
/** Set SPROUT_DOC_SCREENSHOTS=1 to refresh the screenshots in docs/images/. */
const DOCS = process.env.SPROUT_DOC_SCREENSHOTS === '1' ? fileURLToPath(new URL('../../docs/images/', import.meta.url)) : undefined;
const executablePath = chromiumPath();

const promptOf = (messages: { role: string; content?: string | null }[]): string =>
  [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';

/** `[team]` spawns two `[hang]` children and waits for them; `[hang]` runs a ten-minute tool; others answer in ~0.3 s. */
function operatorAgent(): AgentRuntime {
  const single = scriptedAgent({
    clock: systemClock,
    script: (session) =>
      promptOf(session.messages).includes('[hang]')
        ? [{ tokens: 'Crawling', every: 20 }, { tool: { name: 'crawl_site', args: { depth: 5 }, duration: 600_000 } }]
        : [{ tokens: 'Four sources agree', every: 20 }],
    answer: (session) => `Done: ${session.title}`,
  });
  return {
    async execute(session, request) {
      if (!promptOf(session.messages).includes('[team]')) return single.execute(session, request);
      const spawner = request.spawner!;
      const ids: string[] = [];
      for (const title of ['Grandchild one', 'Grandchild two'])
        ids.push((await spawner.spawnChild(session.id, { title, prompt: `[hang] ${title}` })).childSessionId);
      await spawner.waitForChildren(session.id, { childSessionIds: ids });
    },
  };
}

describe.skipIf(executablePath === undefined)('operator dashboard in real Chromium', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('explains queued and waiting runs, folds the tree with totals, filters in the URL, bulk-cancels, opens a run page by URL, fits 390 px', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const t = await startTestServer({
      store: new SqliteSessionStore({ path: tmp.file('operator.db') }),
      agent: operatorAgent(),
      scheduler: { heartbeatIntervalMs: 200, concurrency: 8, perParentConcurrency: 2 },
      server: { retryMs: 200 },
    });
    cleanups.push(() => t.close());
    const rootId = await createRoot(t.url, 'Release checklist');
    const spawn = async (title: string, prompt: string) =>
      (await api<{ childSessionId: string }>(`${t.url}/v1/sessions/${rootId}/children`, { body: { title, prompt } })).body.childSessionId;
    const lead = await spawn('Lead review', '[team] review the release');
    await expect.poll(async () => (await t.scheduler.getChild(lead))?.status, { timeout: 30_000 }).toBe('running');
    const crawlA = await spawn('Crawl archive A', '[hang] crawl A');
    const crawlB = await spawn('Crawl archive B', '[hang] crawl B');
    const queued = await spawn('Summarise findings', 'summarise');

    const browser = await launchChromium(executablePath!);
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
    mkdirSync(ARTIFACTS, { recursive: true });
    const shoot = async (name: string, fullPage = false) => {
      await page.screenshot({ path: `${ARTIFACTS}${name}`, fullPage });
      if (DOCS !== undefined) await page.screenshot({ path: `${DOCS}${name}`, fullPage });
    };

    // Tree: a queued run says which limit holds it, a waiting run which children it waits on.
    await page.goto(`${t.url}/?root=${rootId}`);
    const row = (id: string) => page.locator(`[data-testid="session-${id}"]`);
    await expect
      .poll(() => row(queued).locator('[data-testid="cause"]').first().textContent(), { timeout: 60_000 })
      .toBe('queued: per-parent limit 2/2 of Release checklist');
    await expect
      .poll(() => row(lead).locator('[data-testid="cause"]').first().textContent(), { timeout: 60_000 })
      .toBe('waiting on Grandchild one, Grandchild two');
    expect(await row(lead).getAttribute('data-waiting')).toBe('true');
    await expect
      .poll(() => row(crawlA).locator('[data-testid="cause"]').first().textContent(), { timeout: 30_000 })
      .toMatch(/^running: last event \d+ s ago$/);

    // Per-subtree totals; collapse hides the children and keeps the totals; expand shows them again.
    const leadTotals = row(lead).locator('[data-testid="subtotals"]');
    await expect.poll(() => leadTotals.getAttribute('data-runs'), { timeout: 30_000 }).toBe('2');
    await expect.poll(() => leadTotals.textContent(), { timeout: 30_000 }).toContain('2 running');
    await expect.poll(() => row(rootId).locator('[data-testid="subtotals"]').getAttribute('data-runs'), { timeout: 30_000 }).toBe('6');
    const grandchild = page.locator('.node .title', { hasText: /^Grandchild one$/ });
    await grandchild.waitFor();
    await shoot('dashboard-tree.png');
    await page.locator(`[data-testid="toggle-${lead}"]`).click();
    await grandchild.waitFor({ state: 'detached' });
    expect(await leadTotals.getAttribute('data-runs')).toBe('2');
    await page.locator(`[data-testid="toggle-${lead}"]`).click();
    await grandchild.waitFor();

    // The job statechart draws the shared exits once, from the machine's compound state.
    const chart = page.locator('[data-testid="job-chart"]');
    await chart.locator('g.edge').first().waitFor({ timeout: 30_000 });
    expect(await chart.locator('g.edge.shared').count()).toBe(3);
    expect(await chart.locator('g.edge').count()).toBeLessThan(30);

    // Runs view: the filters live in the URL and survive a reload.
    await page.goto(`${t.url}/#/runs?status=queued,running&q=crawl`);
    const runRow = (child: string) => page.locator('tr[data-testid^="run-"]', { hasText: child });
    await runRow('Crawl archive A').waitFor({ timeout: 30_000 });
    await runRow('Crawl archive B').waitFor();
    await page.reload();
    await runRow('Crawl archive B').waitFor({ timeout: 30_000 });
    expect(await page.locator('tr[data-testid^="run-"]').count()).toBe(2);
    expect(await page.locator('[data-testid="filter-q"]').inputValue()).toBe('crawl');
    expect(await page.locator('[data-testid="filter-status-queued"]').isChecked()).toBe(true);
    expect(await page.locator('[data-testid="filter-status-completed"]').isChecked()).toBe(false);
    await expect.poll(() => page.locator('[data-testid="total-running"]').getAttribute('data-count'), { timeout: 30_000 }).toBe('2');
    // A filter typed in the form goes to the URL.
    await page.locator('[data-testid="filter-q"]').fill('Summarise');
    await page.locator('[data-testid="apply-filters"]').click();
    await expect.poll(() => new URL(page.url()).hash).toBe('#/runs?status=queued%2Crunning&q=Summarise');
    await runRow('Summarise findings').locator('[data-testid="cause"]').waitFor();
    expect(await runRow('Summarise findings').locator('[data-testid="cause"]').textContent()).toMatch(/^queued: per-parent limit 2\/2 of /);
    await page.goBack();
    await runRow('Crawl archive A').waitFor({ timeout: 30_000 });
    await shoot('dashboard-runs.png');

    // Bulk cancel from the UI: select both crawls, cancel, read the counts.
    await page.locator('[data-testid="select-all"]').check();
    await page.locator('[data-testid="bulk-cancel"]').click();
    const result = page.locator('[data-testid="bulk-result"]');
    await result.waitFor({ timeout: 30_000 });
    expect(await result.getAttribute('data-acted')).toBe('2');
    expect(await result.textContent()).toContain('cancel: matched 2 · acted 2 · skipped 0 · failed 0');
    await expect.poll(async () => (await t.scheduler.getChild(crawlA))?.status, { timeout: 30_000 }).toBe('cancelled');
    expect(await t.scheduler.getChild(crawlB)).toMatchObject({ status: 'cancelled', reason: 'user' });
    // Their slots went back: the queued run ran.
    await expect.poll(async () => (await t.scheduler.getChild(queued))?.status, { timeout: 30_000 }).toBe('completed');

    // A run page, opened by URL in a fresh tab.
    const leadRun = (await api<{ runs: { run_id: string }[] }>(`${t.url}/v1/runs?child=${lead}&limit=1`, { method: 'GET' })).body.runs[0]!;
    const runTab = await browser.context.newPage();
    await runTab.goto(`${t.url}/#/runs/${leadRun.run_id}`);
    await runTab.locator('[data-testid="run-title"]').waitFor({ timeout: 30_000 });
    expect(await runTab.locator('[data-testid="run-title"]').textContent()).toBe('Lead review');
    expect(await runTab.locator('[data-testid="run-id"]').textContent()).toBe(leadRun.run_id);
    expect(await runTab.locator('[data-testid="run-prompt"]').textContent()).toBe('[team] review the release');
    await expect
      .poll(() => runTab.locator('[data-testid="run-cause"]').textContent(), { timeout: 30_000 })
      .toBe('waiting on Grandchild one, Grandchild two');
    const states = await Promise.all(
      (await runTab.locator('[data-testid="segment"]').all()).map((item) => item.getAttribute('data-state')),
    );
    expect(states.slice(0, 3)).toEqual(['queued', 'running', 'waiting']);
    expect(await runTab.locator('[data-testid="run-page"] tr[data-testid^="run-"]').count()).toBe(2);
    await runTab.screenshot({ path: `${ARTIFACTS}dashboard-run-page.png` });
    if (DOCS !== undefined) await runTab.screenshot({ path: `${DOCS}dashboard-run-page.png` });
    // Its cancel button ends it (and, the scheduler's rule, its children).
    await runTab.locator('[data-testid="run-cancel"]').click();
    await expect.poll(() => runTab.locator('[data-testid="run-page"]').getAttribute('data-status'), { timeout: 30_000 }).toBe('cancelled');

    // 390 px: one column, no sideways scrolling, on the tree, the runs view and a run page.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of [`/?root=${rootId}`, '/#/runs', `/#/runs/${leadRun.run_id}`]) {
      await page.goto(`${t.url}${path}`);
      await page
        .locator('[data-testid="tree"], [data-testid="runs-table"], [data-testid="run-title"]')
        .first()
        .waitFor({ timeout: 30_000 });
      await page.waitForTimeout(300);
      expect(await page.evaluate<number>('document.documentElement.scrollWidth'), path).toBeLessThanOrEqual(390);
      if (path === '/#/runs') await shoot('dashboard-narrow.png');
    }
    expect(pageErrors).toEqual([]);
  }, 240_000);
});
