import { describe, expect, it } from 'vitest';
import { createTraceRecorder, type TraceEntry } from '../../src/testing/trace-recorder.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';
import { jobFor } from '../support/batch-b.js';

const isJobId = (id: string): boolean => /^job-\d+$/.test(id);

/** Snapshot values of one actor (by session id), consecutive repeats collapsed. */
function valuesOfSession(entries: readonly TraceEntry[], sessionId: string): unknown[] {
  const values: unknown[] = [];
  for (const entry of entries) {
    if (entry.sessionId !== sessionId || entry.type !== '@xstate.snapshot' || !('value' in entry)) continue;
    if (values.length > 0 && JSON.stringify(values.at(-1)) === JSON.stringify(entry.value)) continue;
    values.push(entry.value);
  }
  return values;
}

describe('inspection', () => {
  it('one run shows the scheduler actor, a job actor and every step of the job', async () => {
    const trace = createTraceRecorder();
    const h = await createHarness({
      agent: { script: [{ tokens: 'hi' }, { wait: 6000 }] },
      scheduler: { inspect: trace.inspect },
      seed: [rootSession(), childSession('c1')],
    });
    await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);
    await h.settle();

    const scheduler = h.scheduler.actor;
    const ids = trace.actorIds();
    expect(ids).toContain(scheduler.id);
    expect(ids).toContain('job-0');
    // One actor per run: the job's I/O is started by entry actions and answered with events, not
    // by invoked promise actors.
    expect(ids.filter((id) => id !== scheduler.id)).toEqual(['job-0']);
    expect(trace.eventTypesOf('job-0')).toEqual(expect.arrayContaining(['job.loaded', 'job.reserved', 'job.saved', 'job.agentDone']));
    expect(trace.actionTypesOf('job-0')).toEqual(
      expect.arrayContaining(['loadChild', 'reserveRun', 'saveRunning', 'runAgent', 'saveFinal']),
    );

    // Everything belongs to the scheduler's system.
    expect(trace.events.every((entry) => entry.rootId === scheduler.sessionId)).toBe(true);

    const schedulerValues = valuesOfSession(trace.events, scheduler.sessionId);
    expect(schedulerValues[0]).toBe('accepting');
    expect(schedulerValues).toContain('accepting');

    const jobValues = trace.stateValuesOf('job-0');
    const strings = jobValues.filter((v): v is string => typeof v === 'string');
    expect(strings).toEqual(['loading', 'reserving', 'markingRunning', 'finalizing', 'completed']);
    const runningValues = jobValues.filter((v) => typeof v === 'object' && v !== null);
    expect(runningValues.length).toBeGreaterThan(0);
    expect(runningValues[0]).toEqual({ running: { slot: 'held', idleWatch: 'unlimited' } });
    // `running` sits between markingRunning and finalizing.
    const markIndex = jobValues.indexOf('markingRunning');
    const finalIndex = jobValues.indexOf('finalizing');
    expect(jobValues.slice(markIndex + 1, finalIndex).every((v) => typeof v === 'object')).toBe(true);
    expect(trace.entriesOf('job-0', '@xstate.snapshot').at(-1)).toMatchObject({ status: 'done', value: 'completed' });

    // The scheduler spawned the job and heard it finish.
    expect(trace.eventTypesOf(scheduler.id)).toEqual(expect.arrayContaining(['scheduler.enqueue', 'xstate.done.actor.job-0']));
    // Heartbeats come from the scheduler's heartbeat wheel, not from job transitions: they are on
    // the event stream, not in the inspector.
    expect(trace.actionTypesOf('job-0')).toEqual(expect.arrayContaining(['openRun', 'closeRun', 'publishCompletion']));
    expect(h.rootEvents.some((envelope) => envelope.event.type === 'sub_session_heartbeat')).toBe(true);
  });

  it('shows skipped and cancelled ends too', async () => {
    const trace = createTraceRecorder();
    const answered = childSession('done', 'root', {
      messages: [
        { id: 'u', role: 'user', content: 'q', created_at: '2026-01-01T00:00:00.000Z' },
        { id: 'a', role: 'assistant', content: 'a', created_at: '2026-01-01T00:00:00.000Z' },
      ],
    });
    const h = await createHarness({
      agent: { script: [{ hang: true }] },
      scheduler: { inspect: trace.inspect, concurrency: 1 },
      seed: [rootSession(), answered, childSession('hangs')],
    });
    await h.scheduler.enqueue(jobFor('done'));
    await h.until(() => h.completions().length === 1);
    await h.scheduler.enqueue(jobFor('hangs'));
    await h.settle();
    await h.scheduler.cancel('hangs');
    await h.until(() => h.completions().length === 2);

    const ends = trace
      .entriesOf('job-', '@xstate.snapshot')
      .filter((entry) => entry.status === 'done')
      .map((entry) => entry.value);
    expect(ends).toEqual(['skipped', 'cancelled']);
    expect(trace.stateValuesOf('job-')).toContain('skipping');
  });

  it('recycles job actor ids: 50 runs at concurrency 2 use at most 3 ids', async () => {
    const trace = createTraceRecorder();
    const children = Array.from({ length: 50 }, (_, i) => `c${i + 1}`);
    const h = await createHarness({
      agent: { script: (session) => [{ wait: 100 + (Number(session.id.slice(1)) % 3) * 50 }] },
      scheduler: { inspect: trace.inspect, concurrency: 2 },
      seed: [rootSession(), ...children.map((id) => childSession(id))],
    });
    for (const id of children) await h.scheduler.enqueue(jobFor(id));
    await h.until(() => h.completions().length === 50, 'all fifty runs completed');
    await h.settle();

    expect(trace.dropped).toBe(0);
    expect(h.completions().every((c) => c.status === 'completed')).toBe(true);
    const jobIds = trace.actorIds().filter(isJobId);
    expect(jobIds.length).toBeGreaterThanOrEqual(2);
    expect(jobIds.length).toBeLessThanOrEqual(3);
    // Each id was reused for many distinct job actors (sessions).
    const sessions = new Set(trace.events.filter((e) => isJobId(e.actorId)).map((e) => e.sessionId));
    expect(sessions.size).toBe(50);
    expect(Object.keys(h.scheduler.actor.getSnapshot().children)).toEqual([]);
    expect(h.scheduler.actor.getSnapshot().context.slotCount).toBeLessThanOrEqual(3);
  });
});
