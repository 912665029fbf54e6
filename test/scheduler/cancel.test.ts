import { describe, expect, it } from 'vitest';
import { SchedulerStoppedError } from '../../src/errors.js';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';

describe('cancel', () => {
  it('cancels a running child: status cancelled, reason user, agent aborted, metadata cancelled', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'partial' }, { hang: true }] } });
    const { childSessionId, runId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.advance(1000);
    expect(h.agent.active).toBe(1);
    await expect(h.scheduler.cancel(childSessionId)).resolves.toBe(true);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'user', run_id: runId });
    expect(h.completions()[0]?.error).toBeUndefined();
    expect(h.agent.calls[0]?.signal.aborted).toBe(true);
    const stored = await h.store.load(childSessionId);
    expect(stored?.metadata.last_run_status).toBe('cancelled');
    expect(stored?.metadata.last_run_error).toBeUndefined();
    expect((await h.scheduler.getChild(childSessionId))?.status).toBe('cancelled');
  });

  it('passes a custom reason through', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] } });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    await h.scheduler.cancel(childSessionId, 'parent');
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'parent' });
  });

  it('a run cancelled while queued ends cancelled, its completion is published and the agent never starts', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] }, scheduler: { concurrency: 1 } });
    const first = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    const queued = await h.scheduler.spawnChild('root', { title: 'B', prompt: 'b' });
    await h.settle();
    expect(h.agent.calls).toHaveLength(1);
    await h.scheduler.cancel(queued.childSessionId);
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({
      child_session_id: queued.childSessionId,
      status: 'cancelled',
      reason: 'user',
      run_id: queued.runId,
    });
    expect(typesFor(h.rootEvents, queued.childSessionId)).toEqual(['sub_session_started', 'sub_session_completed']);
    expect((await h.store.load(queued.childSessionId))?.metadata.last_run_status).toBe('cancelled');
    expect(h.agent.calls.map((c) => c.sessionId)).toEqual([first.childSessionId]);
    await h.scheduler.stop({ mode: 'cancel' });
  });

  it('cancel of an unknown child resolves false and publishes nothing', async () => {
    const h = await createHarness();
    await expect(h.scheduler.cancel('nobody')).resolves.toBe(false);
    expect(h.rootEvents).toHaveLength(0);
  });

  it('cancelTree cancels every queued or running descendant with reason parent', async () => {
    const root = rootSession();
    const a = childSession('a');
    const b = childSession('b', 'a', { spawn_depth: 2 });
    const other = childSession('other');
    const h = await createHarness({ seed: [root, a, b, other], agent: { script: [{ hang: true }] }, scheduler: { concurrency: 2 } });
    const events = h.eventsOf('a');
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'a', model: 'm' });
    await h.scheduler.enqueue({ parentSessionId: 'a', childSessionId: 'b', model: 'm' });
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'other', model: 'm' });
    await h.settle();
    await expect(h.scheduler.cancelTree('a')).resolves.toBe(1);
    await h.until(() => events.some((e) => e.event.type === 'sub_session_completed'));
    expect(events.find((e) => e.event.type === 'sub_session_completed')?.event).toMatchObject({
      child_session_id: 'b',
      status: 'cancelled',
      reason: 'parent',
    });
    expect((await h.scheduler.getChild('a'))?.status).toBe('running');
    await expect(h.scheduler.cancelTree('root')).resolves.toBe(2);
    await h.until(() => h.completions().length === 2);
    expect(
      h
        .completions()
        .map((c) => [c.child_session_id, c.status, c.reason])
        .sort(),
    ).toEqual([
      ['a', 'cancelled', 'parent'],
      ['other', 'cancelled', 'parent'],
    ]);
  });

  it('deleteSession cancels the run with reason deleted before deleting the session', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] } });
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    const deleting = h.scheduler.deleteSession(childSessionId);
    await h.until(() => h.completions().length === 1);
    await expect(deleting).resolves.toBe(true);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'deleted' });
    expect(await h.store.load(childSessionId)).toBeUndefined();
  });
});

describe('stop', () => {
  it('drain lets running jobs finish, cancels queued ones (reason shutdown) and resolves when all ended', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 3000 }] }, scheduler: { concurrency: 1 } });
    const running = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    const queued = await h.scheduler.spawnChild('root', { title: 'B', prompt: 'b' });
    await h.settle();
    let stopped = false;
    const stopping = h.scheduler.stop({ mode: 'drain' }).then(() => (stopped = true));
    await h.settle();
    expect(stopped).toBe(false);
    await h.advance(3000);
    await stopping;
    const byChild = new Map(h.completions().map((c) => [c.child_session_id, c]));
    expect(byChild.get(running.childSessionId)).toMatchObject({ status: 'completed' });
    expect(byChild.get(queued.childSessionId)).toMatchObject({ status: 'cancelled', reason: 'shutdown' });
    expect(h.agent.calls).toHaveLength(1);
    expect(h.scheduler.actor.getSnapshot().status).toBe('done');
  });

  it('cancel mode cancels running jobs too, and later enqueues reject with SchedulerStoppedError', async () => {
    const h = await createHarness({ agent: { script: [{ hang: true }] }, seed: [rootSession(), childSession('late')] });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    await h.scheduler.stop({ mode: 'cancel' });
    expect(h.completions()).toHaveLength(1);
    expect(h.completions()[0]).toMatchObject({ status: 'cancelled', reason: 'shutdown' });
    const rejected = h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'late', model: 'm' });
    await expect(rejected).rejects.toBeInstanceOf(SchedulerStoppedError);
    await expect(rejected).rejects.toThrow('spawn scheduler is not running');
    await expect(h.scheduler.spawnChild('root', { title: 'x', prompt: 'y' })).rejects.toMatchObject({ code: 'SCHEDULER_STOPPED' });
  });

  it('an agent that ignores the abort signal still ends cancelled on stop', async () => {
    const h = await createHarness({ agent: { script: [{ ignoreAbort: true }, { hang: true }] } });
    await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
    await h.settle();
    await h.scheduler.stop({ mode: 'cancel' });
    expect(h.completions()).toEqual([expect.objectContaining({ status: 'cancelled', reason: 'shutdown' })]);
    expect(h.agent.active).toBe(1); // still hanging, but the run is over
  });
});
