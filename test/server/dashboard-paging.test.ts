// The dashboard pages instead of reading every session every second (issue 21 item 2): it asks
// for one page of roots (most recent first), older roots on demand, and only the selected root's
// tree — in real Chromium, against a SQLite-backed server with more roots than one page.
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import { makeSession } from '../../src/testing/index.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { startTestServer, tempDir } from './support/test-server.js';

const executablePath = chromiumPath();

describe.skipIf(executablePath === undefined)('dashboard paging in real Chromium', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('lists one page of roots, loads older roots on demand, and reads only the selected tree', async () => {
    const tmp = tempDir();
    cleanups.push(() => tmp.remove());
    const store = new SqliteSessionStore({ path: tmp.file('paging.db') });
    // 60 roots (one more page than the picker's 50), each with one child; root 59 is the newest.
    const at = (i: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString();
    for (let i = 0; i < 60; i++) {
      const id = `root-${String(i).padStart(2, '0')}`;
      await store.save(makeSession(id, { title: `Root ${i}`, created_at: at(i), updated_at: at(i), messages: [] }));
      await store.save(
        makeSession(`child-${i}`, {
          parent_session_id: id,
          root_session_id: id,
          spawn_depth: 1,
          title: `Child of ${i}`,
          created_at: at(i),
          updated_at: at(i),
          messages: [],
          metadata: { last_run_status: 'completed' },
        }),
      );
    }
    const t = await startTestServer({ store });
    cleanups.push(() => t.close());

    const browser = await launchChromium(executablePath!);
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    const lists: URL[] = [];
    page.on('request', (request) => {
      const url = new URL(request.url());
      if (url.pathname === '/v1/sessions' && request.method() === 'GET') lists.push(url);
    });
    await page.goto(t.url);

    // The newest root is selected and its tree shown; the picker holds one page of roots.
    const options = page.locator('[data-testid="root-picker"] option');
    await expect.poll(() => options.count(), { timeout: 30_000 }).toBe(50);
    await page.locator('[data-testid="session-child-59"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-testid="root-picker"]').inputValue()).toBe('root-59');
    await page.locator('[data-testid="older-roots"]').click();
    await expect.poll(() => options.count(), { timeout: 30_000 }).toBe(60);
    await page.locator('[data-testid="older-roots"]').waitFor({ state: 'detached', timeout: 30_000 });

    // Picking an old root reads that tree.
    await page.locator('[data-testid="root-picker"]').selectOption('root-03');
    await page.locator('[data-testid="session-child-3"]').waitFor({ timeout: 30_000 });
    expect(await page.locator('[data-testid^="session-child-"]').count()).toBe(1);

    // Every listing asked was a page: roots, or one root's tree; never every session.
    expect(lists.length).toBeGreaterThan(2);
    for (const url of lists) {
      const query = url.searchParams;
      expect(query.get('limit')).not.toBeNull();
      expect(query.get('kind') === 'root' || query.get('root') !== null).toBe(true);
    }
    expect(pageErrors).toEqual([]);
  });
});
