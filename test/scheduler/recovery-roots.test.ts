import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { createHarness, rootSession } from '../support/harness.js';

const interruptedRoot = () =>
  rootSession('root', {
    metadata: { last_run_status: 'running', last_run_id: 'old-run' },
    messages: [{ id: 'u1', role: 'user', content: 'Plan the work', created_at: '2026-01-01T00:00:00.000Z' }],
  });

const terminals = (events: readonly { event: AgentEvent }[]) =>
  events.map((e) => e.event).filter((e) => e.type === 'complete' || e.type === 'error');

describe("recovery of a root's own run a crash left running", () => {
  it('interrupt: the root is saved error/interrupted and its stream ends with one terminal error', async () => {
    const h = await createHarness({ start: false, seed: [interruptedRoot()] });
    const report = await h.scheduler.start();
    expect(report.interrupted).toEqual(['root']);
    expect((await h.store.load('root'))?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: INTERRUPTED_ERROR });
    expect(terminals(h.eventsOf('root'))).toEqual([{ type: 'error', message: INTERRUPTED_ERROR }]);
  });

  it('requeue: a root whose message is still pending runs again and completes', async () => {
    const h = await createHarness({
      start: false,
      seed: [interruptedRoot()],
      agent: { answer: 'done now' },
      scheduler: { recover: 'requeue' },
    });
    const report = await h.scheduler.start();
    expect(report.requeued).toEqual(['root']);
    await h.until(() => terminals(h.eventsOf('root')).length === 1);
    expect(terminals(h.eventsOf('root'))[0]).toMatchObject({ type: 'complete' });
    expect((await h.store.load('root'))?.metadata.last_run_status).toBe('completed');
  });

  it('a root marked running by someone else (no run id of Sprout’s) is left alone', async () => {
    const foreign = rootSession('root', { metadata: { last_run_status: 'running' } });
    const h = await createHarness({ start: false, seed: [foreign] });
    const report = await h.scheduler.start();
    expect(report.interrupted).toEqual([]);
    expect((await h.store.load('root'))?.metadata).toEqual({ last_run_status: 'running' });
  });
});
