import { describe, expect, it } from 'vitest';
import { createRunStateTracker, type RunState } from '../../src/server/run-states.js';
import { createHarness, childSession, rootSession } from '../support/harness.js';

describe('RunStateTracker view (@xstate/store)', () => {
  it('a UI subscribed to the view sees each run move through the job states, and changes$ agrees', async () => {
    const tracker = createRunStateTracker();
    const seen: number[] = [];
    const viewSubscription = tracker.view.subscribe(({ context }) => seen.push(context.version));
    const changes: RunState[] = [];
    const changeSubscription = tracker.changes$.subscribe((state) => changes.push(state));
    const h = await createHarness({
      agent: { script: [{ tokens: 'hi' }, { wait: 1000 }], answer: 'A' },
      scheduler: { inspect: tracker.inspect },
      seed: [rootSession(), childSession('c1')],
    });
    const { runId } = await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' });
    await h.until(() => tracker.get(runId)?.states.includes('spawnJob.running') === true);
    await h.advance(1000);
    await h.until(() => tracker.get(runId)?.done === true);
    const runChanges = changes.filter((state) => state.runId === runId).map((state) => state.states[0]);
    expect(runChanges).toEqual(
      expect.arrayContaining([
        'spawnJob.loading',
        'spawnJob.reserving',
        'spawnJob.markingRunning',
        'spawnJob.running',
        'spawnJob.completed',
      ]),
    );
    expect(tracker.view.getSnapshot().context.runs.get(runId)).toMatchObject({ childSessionId: 'c1', done: true });
    expect(seen.length).toBe(changes.length);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(tracker.snapshot().scheduler).toContain('spawnScheduler.accepting');
    viewSubscription.unsubscribe();
    changeSubscription.unsubscribe();
    await h.scheduler.stop();
  });
});
