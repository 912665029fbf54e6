// Run queries and bulk actions over real HTTP on loopback: `GET /v1/runs?…` pages the run index
// (a real SQLite file here, the memory log below), keeps the live snapshot without parameters,
// refuses bad parameters with 400 problem+json; `GET /v1/runs/{runId}` is the run page;
// `POST /v1/runs/bulk` cancels and retries. A bulk cancel of 1,000 hanging runs yields exactly
// 1,000 completions, one per run.
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { RunIndex, RunRecord } from '../../src/api/run-index.js';
import type { BulkResult } from '../../src/server/run-bulk.js';
import type { RunPageData } from '../../src/server/run-page.js';
import { systemClock } from '../../src/clock.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { rootSession } from '../support/harness.js';
import { api, startTestServer, tempDir, type TestServer } from './support/test-server.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

type RunList = { runs: RunRecord[]; next_cursor: string | null };

/** Waits (polling the index, no fixed sleep) until `predicate` holds for the runs of `query`. */
async function waitForRuns(index: RunIndex, query: Parameters<RunIndex['queryRuns']>[0], predicate: (runs: RunRecord[]) => boolean) {
  await vi.waitFor(
    async () => {
      const { runs } = await index.queryRuns(query);
      if (!predicate(runs)) throw new Error(`runs not there yet: ${runs.map((run) => run.status).join(',')}`);
    },
    { timeout: 20_000, interval: 20 },
  );
}

describe('GET /v1/runs, GET /v1/runs/{runId}, POST /v1/runs/bulk on a SQLite file', () => {
  it('queries, shows a run page, cancels and retries', async () => {
    const temp = tempDir();
    cleanups.push(() => temp.remove());
    const store = new SqliteSessionStore({ path: temp.file('sprout.db') });
    const t: TestServer = await startTestServer({ store, scheduler: { concurrency: 8, perParentConcurrency: 8 } });
    cleanups.push(() => t.close());
    await store.save(rootSession('root'));
    const ok = await t.scheduler.spawnChild('root', { title: 'Quick research', prompt: 'Find three sources', model: 'm-small' });
    const bad = await t.scheduler.spawnChild('root', { title: 'Broken tool', prompt: 'Try it [fail]' });
    const hang = await t.scheduler.spawnChild('root', { title: 'Forever', prompt: 'Wait [hang]' });
    await waitForRuns(store, { limit: 10 }, (runs) => {
      const by = new Map(runs.map((run) => [run.run_id, run.status]));
      return by.get(ok.runId) === 'completed' && by.get(bad.runId) === 'error' && by.get(hang.runId) === 'running';
    });

    // Without run-query parameters: today's live snapshot, unchanged.
    const live = await api<{ tracked: boolean; runs: unknown[] }>(`${t.url}/v1/runs`);
    expect(live.status).toBe(200);
    expect(live.body.tracked).toBe(true);

    const errors = await api<RunList>(`${t.url}/v1/runs?status=error`);
    expect(errors.body.runs.map((run) => run.run_id)).toEqual([bad.runId]);
    expect(errors.body.runs[0]).toMatchObject({ root_session_id: 'root', title: 'Broken tool', error: 'tool exploded' });
    const live2 = await api<RunList>(`${t.url}/v1/runs?status=queued,running&parent=root`);
    expect(live2.body.runs.map((run) => run.run_id)).toEqual([hang.runId]);
    expect((await api<RunList>(`${t.url}/v1/runs?model=m-small`)).body.runs.map((run) => run.run_id)).toEqual([ok.runId]);
    expect((await api<RunList>(`${t.url}/v1/runs?q=FOREVER`)).body.runs.map((run) => run.run_id)).toEqual([hang.runId]);

    const first = await api<RunList>(`${t.url}/v1/runs?limit=2`);
    expect(first.body.runs.map((run) => run.run_id)).toEqual([hang.runId, bad.runId]);
    expect(first.body.next_cursor).toEqual(expect.any(String));
    const second = await api<RunList>(`${t.url}/v1/runs?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body.runs.map((run) => run.run_id)).toEqual([ok.runId]);
    expect(second.body.next_cursor).toBeNull();

    for (const bad400 of [
      'status=sleeping',
      'since=yesterday',
      'limit=0',
      'limit=5000',
      'cursor=nope',
      'status=',
      'q=%00',
      'model=a%00b',
    ]) {
      const response = await api<{ code: string }>(`${t.url}/v1/runs?${bad400}`);
      expect(response.status, bad400).toBe(400);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      expect(response.body.code).toBe('INVALID_QUERY');
    }

    const page = await api<RunPageData>(`${t.url}/v1/runs/${ok.runId}`);
    expect(page.status).toBe(200);
    expect(page.body.run).toMatchObject({ run_id: ok.runId, status: 'completed', model: 'm-small' });
    expect(page.body.prompt).toBe('Find three sources');
    expect(page.body.transcript.at(-1)).toMatchObject({ role: 'assistant', content: 'Answer for Quick research' });
    const types = page.body.events.map(({ event }) => event.type);
    expect(types[0]).toBe('sub_session_started');
    expect(types.at(-1)).toBe('sub_session_completed');
    expect(types).toContain('sub_session_event');
    expect(page.body.timeline.map((segment) => segment.state)).toEqual(['queued', 'running', 'completed']);
    expect(page.body.timeline[0]?.duration_ms).toEqual(expect.any(Number));
    expect(page.body.tokens?.total).toEqual(expect.any(Number));
    expect(page.body.links.parent).toEqual({ session_id: 'root' });
    expect((await api(`${t.url}/v1/runs/no-such-run`)).status).toBe(404);

    const cancel = await api<BulkResult>(`${t.url}/v1/runs/bulk`, { body: { action: 'cancel', filter: { status: ['running'] } } });
    expect(cancel.status).toBe(200);
    expect(cancel.body).toMatchObject({ matched: 1, acted: 1, skipped: 0, failed: 0, truncated: false });
    await waitForRuns(store, { child: hang.childSessionId, limit: 1 }, (runs) => runs[0]?.status === 'cancelled');
    expect((await store.getRun(hang.runId))?.reason).toBe('user');

    const retry = await api<BulkResult>(`${t.url}/v1/runs/bulk`, { body: { action: 'retry', runIds: [bad.runId, ok.runId, 'ghost'] } });
    expect(retry.body).toMatchObject({ matched: 2, acted: 1, skipped: 2 });
    const retried = retry.body.results.find((result) => result.run_id === bad.runId);
    expect(retried?.outcome).toBe('retried');
    expect(retried?.new_run_id).toMatch(/./);
    await waitForRuns(store, { child: bad.childSessionId, limit: 5 }, (runs) => runs.length === 2 && runs[0]?.status === 'error');
    // A retry of a run with a newer one is skipped.
    const again = await api<BulkResult>(`${t.url}/v1/runs/bulk`, { body: { action: 'retry', runIds: [bad.runId] } });
    expect(again.body.results[0]?.outcome).toBe('skipped');
    expect(again.body.results[0]?.detail).toContain('newer run');

    expect((await api(`${t.url}/v1/runs/bulk`, { body: { action: 'explode', runIds: ['x'] } })).status).toBe(422);
    expect((await api(`${t.url}/v1/runs/bulk`, { body: { action: 'cancel' } })).status).toBe(422);
  });

  it('answers 501 without a run index', async () => {
    const t = await startTestServer({ store: new MemorySessionStore() });
    cleanups.push(() => t.close());
    const response = await api<{ code: string }>(`${t.url}/v1/runs?limit=5`);
    expect(response.status).toBe(501);
    expect(response.body.code).toBe('RUN_INDEX_UNAVAILABLE');
  });
});

describe('bulk cancel at volume', () => {
  it("reports a bulk action's progress as NDJSON when asked, then its result", async () => {
    const store = new MemorySessionStore();
    const log = new MemoryEventLog({ retention: 10_000 });
    const t = await startTestServer({
      store,
      agent: scriptedAgent({ clock: systemClock, behavior: 'hang' }),
      scheduler: { eventLog: log, concurrency: 200, perParentConcurrency: 200, queueCapacity: 200, heartbeatIntervalMs: 60_000 },
      server: { runIndex: log },
    });
    cleanups.push(() => t.close());
    await store.save(rootSession('root'));
    await Promise.all(Array.from({ length: 120 }, (_, i) => t.scheduler.spawnChild('root', { title: `hang ${i}`, prompt: `wait ${i}` })));
    await waitForRuns(log, { status: ['running'], limit: 1000 }, (runs) => runs.length === 120);

    const response = await fetch(`${t.url}/v1/runs/bulk`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/x-ndjson' },
      body: JSON.stringify({ action: 'cancel', filter: { root: 'root' } }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await response.text())
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; done?: number; total?: number; acted?: number; matched?: number });
    const progress = lines.filter((line) => line.type === 'progress');
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.map((line) => line.done)).toEqual([...progress.map((line) => line.done)].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect(progress.at(-1)).toMatchObject({ done: 120, total: 120, acted: 120 });
    expect(lines.at(-1)).toMatchObject({ type: 'result', matched: 120, acted: 120, skipped: 0, failed: 0 });
  }, 60_000);

  it('cancels 1,000 hanging runs: exactly 1,000 completions, each once', async () => {
    const store = new MemorySessionStore();
    const log = new MemoryEventLog({ retention: 10_000 });
    const t = await startTestServer({
      store,
      agent: scriptedAgent({ clock: systemClock, behavior: 'hang' }),
      scheduler: { eventLog: log, concurrency: 1000, perParentConcurrency: 1000, queueCapacity: 1000, heartbeatIntervalMs: 60_000 },
      server: { runIndex: log },
    });
    cleanups.push(() => t.close());
    await store.save(rootSession('root'));
    const completions = new Map<string, number>();
    const subscription = t.scheduler.events('root').subscribe(({ event }: SessionEventEnvelope) => {
      if (event.type === 'sub_session_completed') completions.set(event.run_id, (completions.get(event.run_id) ?? 0) + 1);
    });
    cleanups.push(() => subscription.unsubscribe());
    const spawned = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => t.scheduler.spawnChild('root', { title: `hang ${i}`, prompt: `wait ${i}` })),
    );
    await waitForRuns(log, { status: ['running'], limit: 1000 }, (runs) => runs.length === 1000);

    const bulk = await api<BulkResult>(`${t.url}/v1/runs/bulk`, { body: { action: 'cancel', filter: { root: 'root' } } });
    expect(bulk.body).toMatchObject({ matched: 1000, acted: 1000, skipped: 0, failed: 0, truncated: false });
    await vi.waitFor(() => expect(completions.size).toBe(1000), { timeout: 20_000, interval: 20 });
    await waitForRuns(log, { status: ['cancelled'], limit: 1000 }, (runs) => runs.length === 1000);

    // A second bulk cancel finds nothing live; stopping the scheduler publishes nothing more.
    const second = await api<BulkResult>(`${t.url}/v1/runs/bulk`, { body: { action: 'cancel', filter: { root: 'root' } } });
    expect(second.body).toMatchObject({ matched: 1000, acted: 0, skipped: 1000 });
    await t.close();
    expect([...completions.values()].every((count) => count === 1)).toBe(true);
    expect(new Set(completions.keys())).toEqual(new Set(spawned.map((run) => run.runId)));
  }, 60_000);
});
