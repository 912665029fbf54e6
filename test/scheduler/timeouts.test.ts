import { describe, expect, it } from 'vitest';
import { createHarness, typesFor } from '../support/harness.js';

describe('time limits (named delays on the actor clock)', () => {
  it('maxRunMs ends a run that runs too long: error, reason timeout, exact text', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'busy', every: 1000 }, { hang: true }] },
      scheduler: { maxRunMs: 30_000 },
    });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.advance(29_999);
    expect(h.completions()).toHaveLength(0);
    await h.advance(1);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'error', reason: 'timeout', error: 'child session timed out after 30000 ms' });
    const stored = await h.store.load(childSessionId);
    expect(stored?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: 'child session timed out after 30000 ms' });
    expect(h.agent.calls[0]?.signal.aborted).toBe(true);
  });

  it('idleTimeoutMs ends a run with no child event for that long: error, reason idle, exact text', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'one' }, { wait: 2000 }, { tokens: 'two' }, { hang: true }] },
      scheduler: { idleTimeoutMs: 10_000 },
    });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    // Last event at t=2000: idle fires at exactly t=12000, not at t=10000.
    await h.advance(11_999);
    expect(h.completions()).toHaveLength(0);
    await h.advance(1);
    await h.settle();
    expect(h.completions()[0]).toMatchObject({ status: 'error', reason: 'idle', error: 'child session idle for 10000 ms' });
  });

  it('a steady event stream never trips the idle timeout', async () => {
    const steps = Array.from({ length: 20 }, () => [{ wait: 4000 }, { tokens: 'tick' }]).flat();
    const h = await createHarness({ agent: { script: steps }, scheduler: { idleTimeoutMs: 5000 } });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('completed');
    expect(h.clock.now()).toBe(80_000);
  });

  it('heartbeats: first at once, then every interval, carrying events_seen and last_event_at; none after the end', async () => {
    const h = await createHarness({
      agent: { script: [{ wait: 1500 }, { tokens: 'a b c' }, { wait: 2000 }] },
      scheduler: { heartbeatIntervalMs: 1000 },
    });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.until(() => h.completions().length === 1);
    await h.advance(10_000);
    const beats = h.rootEvents.flatMap((e) => (e.event.type === 'sub_session_heartbeat' ? [e.event] : []));
    expect(beats.map((b) => b.timestamp)).toEqual([0, 1000, 2000, 3000].map((t) => new Date(t).toISOString()));
    expect(beats[0]).toMatchObject({ events_seen: 0, child_session_id: childSessionId });
    expect(beats[0]?.last_event_at).toBeUndefined();
    expect(beats[2]).toMatchObject({ events_seen: 3, last_event_at: new Date(1500).toISOString() });
    expect(typesFor(h.rootEvents, childSessionId).at(-1)).toBe('sub_session_completed');
  });
});
