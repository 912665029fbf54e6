import { describe, expect, it } from 'vitest';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { createHarness, type Harness } from '../support/harness.js';
import { FlakyStore } from '../support/flaky-store.js';

/** Checks the per-run ordering guarantees of docs/job-lifecycle.md on a parent stream. */
function assertRunOrdering(events: readonly SessionEventEnvelope[]): void {
  const byRun = new Map<string, string[]>();
  for (const { event } of events) {
    if (!('run_id' in event)) continue;
    const list = byRun.get(event.run_id) ?? [];
    list.push(event.type);
    byRun.set(event.run_id, list);
  }
  for (const [runId, types] of byRun) {
    expect(types[0], `run ${runId} starts with sub_session_started`).toBe('sub_session_started');
    expect(
      types.filter((t) => t === 'sub_session_started'),
      `run ${runId}: one start`,
    ).toHaveLength(1);
    expect(
      types.filter((t) => t === 'sub_session_completed'),
      `run ${runId}: exactly one completion`,
    ).toHaveLength(1);
    expect(types.at(-1), `run ${runId}: nothing after the completion`).toBe('sub_session_completed');
  }
}

async function runOne(h: Harness) {
  const spawned = await h.scheduler.spawnChild('root', { title: 'A', prompt: 'a' });
  await h.until(() => h.completions().length === 1, 'the completion');
  await h.advance(60_000); // give late events and heartbeats every chance to show up
  assertRunOrdering(h.rootEvents);
  return { ...spawned, completion: h.completions()[0], stored: await h.store.load(spawned.childSessionId).catch(() => undefined) };
}

describe('exactly one completion per run, on every path', () => {
  it('agent resolves', async () => {
    const { completion } = await runOne(await createHarness({ agent: { script: [{ tokens: 'ok' }] } }));
    expect(completion?.status).toBe('completed');
  });

  it('agent throws synchronously', async () => {
    const h = await createHarness({ agent: { script: [{ throwSync: 'kaboom' }] } });
    const { completion, stored } = await runOne(h);
    expect(completion).toMatchObject({ status: 'error', error: 'kaboom' });
    expect(stored?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: 'kaboom' });
    expect(h.agent.calls[0]?.outcome).toBe('threw');
  });

  it('agent rejects', async () => {
    const { completion } = await runOne(
      await createHarness({ agent: { script: [{ tokens: 'x' }, { wait: 100 }, { fail: 'model overloaded' }] } }),
    );
    expect(completion).toMatchObject({ status: 'error', error: 'model overloaded' });
  });

  it('agent never settles, ended by the timeout', async () => {
    const { completion } = await runOne(await createHarness({ agent: { script: [{ hang: true }] }, scheduler: { maxRunMs: 5000 } }));
    expect(completion).toMatchObject({ status: 'error', reason: 'timeout' });
  });

  it('agent ignores the abort signal and never settles, ended by the idle timeout', async () => {
    const { completion } = await runOne(
      await createHarness({ agent: { script: [{ ignoreAbort: true }, { hang: true }] }, scheduler: { idleTimeoutMs: 5000 } }),
    );
    expect(completion).toMatchObject({ status: 'error', reason: 'idle' });
  });

  it('agent emits after it resolved: the late events are dropped and reported, never forwarded', async () => {
    const h = await createHarness({
      agent: { script: [{ tokens: 'done' }, { emitAfterResolve: [{ type: 'token', content: 'LATE' }], delay: 10 }] },
    });
    await runOne(h);
    const contents = h.rootEvents.flatMap((e) =>
      e.event.type === 'sub_session_event' && e.event.event.type === 'token' ? [e.event.event.content] : [],
    );
    expect(contents).not.toContain('LATE');
    expect(h.diagnostics).toContainEqual(expect.objectContaining({ kind: 'late_event' }));
  });

  it('store load fails', async () => {
    const store = new FlakyStore();
    const h = await createHarness({ store });
    store.failLoad = (id) => (id === 'root' ? undefined : new Error('disk on fire'));
    const { completion } = await runOne(h);
    expect(completion).toMatchObject({ status: 'error', error: 'failed to load child session: disk on fire' });
  });

  it('store save fails while marking running', async () => {
    const store = new FlakyStore();
    const h = await createHarness({ store });
    store.failSave = (s) => (s.metadata.last_run_status === 'running' ? new Error('read-only') : undefined);
    const { completion } = await runOne(h);
    expect(completion).toMatchObject({ status: 'error', error: 'failed to save child session: read-only' });
    expect(h.agent.calls).toHaveLength(0);
  });

  it('store save fails when persisting the end', async () => {
    const store = new FlakyStore();
    const h = await createHarness({ store });
    store.failSave = (s) => (s.metadata.last_run_status === 'completed' ? new Error('quota exceeded') : undefined);
    const { completion } = await runOne(h);
    expect(completion).toMatchObject({ status: 'error', error: 'failed to save child session: quota exceeded' });
  });
});

describe('ordering', () => {
  it('every child event is forwarded before the completion, in emit order, with increasing seq', async () => {
    const h = await createHarness({
      agent: {
        script: [{ tokens: 'one two three four five six' }, { tool: { name: 't', args: {}, result: 1 } }, { tokens: 'last words' }],
      },
    });
    const { childSessionId } = await runOne(h);
    const child = await h.store.load(childSessionId);
    expect(child?.metadata.last_run_status).toBe('completed');
    const forwarded = h.rootEvents.filter((e) => e.event.type === 'sub_session_event');
    const completionSeq = h.rootEvents.find((e) => e.event.type === 'sub_session_completed')?.seq ?? 0;
    expect(forwarded.length).toBeGreaterThan(8);
    expect(forwarded.every((e) => e.seq < completionSeq)).toBe(true);
    const tokens = forwarded.flatMap((e) =>
      e.event.type === 'sub_session_event' && e.event.event.type === 'token' ? [e.event.event.content] : [],
    );
    expect(tokens.join('')).toContain('last words');
  });

  it('the completion is published only after the final session was persisted', async () => {
    const h = await createHarness({ agent: { script: [{ tokens: 'x' }] } });
    const seen: (string | undefined)[] = [];
    h.scheduler.events('root').subscribe(({ event }) => {
      if (event.type === 'sub_session_completed') {
        void h.store.load(event.child_session_id).then((s) => seen.push(s?.metadata.last_run_status));
      }
    });
    await runOne(h);
    await h.settle();
    expect(seen).toEqual(['completed']);
  });
});
