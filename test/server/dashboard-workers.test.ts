// The dashboard's workers view (issue 22 item 2) in real Chromium: on a distributed front door
// with one in-process worker running a hanging child, `#/workers` lists the worker and its run
// (a link to the run page) with the lease time left; on the embedded scheduler it says there are
// no workers.
import { afterEach, describe, expect, it } from 'vitest';
import { createDistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker } from '../../src/distributed/worker.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer } from '../../src/server/listen-sprout-server.js';
import { createProbe } from '../distributed/probe-agent.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable } from '../distributed/support.js';
import { rootSession } from '../support/harness.js';
import { chromiumPath, launchChromium } from './support/chromium.js';
import { startTestServer } from './support/test-server.js';

const executablePath = chromiumPath();
const unavailable = await servicesUnavailable();

describe.skipIf(executablePath === undefined)('workers view in real Chromium', () => {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  async function openPage(url: string) {
    const browser = await launchChromium(executablePath!);
    cleanups.push(() => browser.close());
    const page = await browser.context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(url);
    return { page, pageErrors };
  }

  it('says "embedded mode: no workers" on the embedded scheduler', async () => {
    const t = await startTestServer();
    cleanups.push(() => t.close('cancel'));
    const { page, pageErrors } = await openPage(`${t.url}/#/workers`);
    await expect
      .poll(() => page.locator('[data-testid="workers-unavailable"]').textContent(), { timeout: 30_000 })
      .toBe('embedded mode: no workers');
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')(
    'lists the worker and its run with the lease left; the run links to its run page',
    async () => {
      const deployment = createTestDeployment();
      cleanups.push(() => deployment.cleanup());
      const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix: deployment.prefix });
      cleanups.push(() => front.stop());
      await front.start();
      const worker = createWorker({
        redis: REDIS_URL,
        postgres: POSTGRES_URL,
        prefix: deployment.prefix,
        agent: createProbe().agent('w1'),
        name: 'worker-one',
      });
      cleanups.push(() => worker.stop({ mode: 'cancel' }));
      await worker.start();
      await front.store.save(rootSession('root'));
      const { runId } = await front.spawnChild('root', { title: 'hang on', prompt: 'wait' });
      const listening = await listenSproutServer(createSproutServer({ scheduler: front, store: front.store }), { port: 0 });
      cleanups.push(() => listening.close());

      const { page, pageErrors } = await openPage(`${listening.url}/#/workers`);
      const link = page.locator('[data-testid="worker-run"]', { hasText: runId });
      await link.waitFor({ timeout: 30_000 });
      expect(await page.locator('[data-testid="worker-name"]').textContent()).toBe('worker-one');
      expect(await page.locator('[data-testid="lease-left"]').textContent()).toMatch(/^\d+(\.\d)? s$/);
      expect(await page.locator('[data-testid="nav-workers"]').getAttribute('class')).toBe('on');
      await link.click();
      await expect.poll(() => new URL(page.url()).hash).toBe(`#/runs/${runId}`);
      expect(pageErrors).toEqual([]);
    },
  );
});
