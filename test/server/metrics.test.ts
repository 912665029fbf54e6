import { afterEach, describe, expect, it } from 'vitest';
import { createSproutServer, type SproutServer } from '../../src/server/create-sprout-server.js';
import { createRunStateTracker } from '../../src/server/run-states.js';
import { childSession, createHarness, rootSession, type Harness } from '../support/harness.js';

const TOKEN = 'metrics-test-token-0123456789';

/** The value of one sample line (`name{labels} value`) of the exposition text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((row) => row.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(server: SproutServer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; type: string }> {
  const response = await server.fetch(new Request('http://localhost/metrics', { headers }));
  return { status: response.status, text: await response.text(), type: response.headers.get('content-type') ?? '' };
}

describe('GET /metrics', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.scheduler.stop({ mode: 'cancel' });
    h = undefined;
  });

  async function setup(server: Partial<Parameters<typeof createSproutServer>[0]> = {}) {
    const runStates = createRunStateTracker();
    h = await createHarness({
      seed: [rootSession(), childSession('c1'), childSession('c2'), childSession('c3')],
      agent: { script: [{ wait: 2000 }], usage: { prompt_tokens: 10, completion_tokens: 5 } },
      scheduler: { inspect: runStates.inspect, concurrency: 1, heartbeatIntervalMs: 500 },
    });
    const clock = h.clock;
    return { h, server: createSproutServer({ scheduler: h.scheduler, store: h.store, runStates, now: () => clock.now(), ...server }) };
  }

  it('reports queue depth, runs by state, completions, durations and tokens', async () => {
    const { h, server } = await setup();
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' });
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c2', model: 'm' });
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c3', model: 'm' });
    await h.advance(100);
    const during = await scrape(server);
    expect(during.status).toBe(200);
    expect(during.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(during.text, 'sprout_queue_depth')).toBe(2);
    expect(sample(during.text, 'sprout_runs{state="running"}')).toBe(1);
    expect(sample(during.text, 'sprout_runs{state="queued"}')).toBe(2);
    expect(sample(during.text, 'sprout_runs{state="waiting"}')).toBe(0);
    await h.scheduler.cancel('c3');
    await h.until(() => h.completions().length === 3, 'three completions');
    const after = (await scrape(server)).text;
    expect(sample(after, 'sprout_run_completions_total{status="completed",reason="none"}')).toBe(2);
    expect(sample(after, 'sprout_run_completions_total{status="cancelled",reason="user"}')).toBe(1);
    expect(sample(after, 'sprout_tokens_total{kind="input"}')).toBe(20);
    expect(sample(after, 'sprout_tokens_total{kind="output"}')).toBe(10);
    // c1 ran 2 s; c2 was queued 2 s, then ran 2 s; c3 was cancelled while queued.
    expect(sample(after, 'sprout_run_duration_seconds_count{status="completed"}')).toBe(2);
    expect(sample(after, 'sprout_run_duration_seconds_sum{status="completed"}')).toBeCloseTo(6, 0);
    expect(sample(after, 'sprout_run_duration_seconds_count{status="cancelled"}')).toBe(1);
    expect(sample(after, 'sprout_queue_depth')).toBe(0);
    expect(sample(after, 'sprout_open_streams{transport="sse"}')).toBe(0);
    expect(sample(after, 'sprout_open_streams{transport="ws"}')).toBe(0);
  });

  it('needs the bearer token when the server has one', async () => {
    const { server } = await setup({ token: TOKEN });
    expect((await scrape(server)).status).toBe(401);
    expect((await scrape(server, { authorization: `Bearer ${TOKEN}` })).status).toBe(200);
  });

  it('is off with metrics: false, and two servers in one process keep their own registries', async () => {
    const { h, server } = await setup({ metrics: false });
    expect((await scrape(server)).status).toBe(404);
    const one = createSproutServer({ scheduler: h.scheduler, store: h.store });
    const two = createSproutServer({ scheduler: h.scheduler, store: h.store });
    expect((await scrape(one)).text).toContain('sprout_queue_depth 0');
    expect((await scrape(two)).text).toContain('sprout_queue_depth 0');
  });
});
