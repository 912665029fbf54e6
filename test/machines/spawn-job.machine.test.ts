import { describe, expect, it } from 'vitest';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import { jobErrorText } from '../../machines/spawn-job.events.js';
import { finalAnswerOf, hasPendingUserMessage, MAX_RESULT_CHARS, spawnJobMachine } from '../../machines/spawn-job.machine.js';
import {
  AFTER,
  CHILD,
  PARENT,
  RUN,
  cancelled,
  childSession,
  count,
  delayed,
  ev,
  job,
  jobInput,
  message,
  send,
  sendAll,
  spawned,
  start,
  toRunning,
  types,
  type JobStep,
} from './spawn-job.fixtures.js';

const ids = { parentSessionId: PARENT, childSessionId: CHILD, runId: RUN };

/** Every final state but `duplicate` publishes exactly one completion on entry. */
function expectOneCompletion(step: JobStep, allActions = step.actions): void {
  expect(step.snapshot.status).toBe('done');
  expect(count(allActions, 'publishCompletion')).toBe(1);
  expect(types(step.actions).at(-1)).toBe('publishCompletion');
}

/** No `saveSession` actor was ever invoked: no metadata written. */
function expectNoSave(allActions: JobStep['actions']): void {
  const srcs = [...spawned(allActions).values()].map((spawn) => spawn.src);
  expect(srcs).not.toContain('saveSession');
}

describe('spawn-job machine: loading', () => {
  it('starts in loading and invokes loadChild with the child id and run id', () => {
    const { snapshot, actions } = start();
    expect(snapshot.value).toBe('loading');
    expect(snapshot.context).toMatchObject({ job, runId: RUN, limits: { heartbeatIntervalMs: 5000 } });
    expect(spawned(actions).get('loadChild')).toEqual({ src: 'loadChild', input: { childSessionId: CHILD, runId: RUN } });
    expect(types(actions)).not.toContain('publishCompletion');
  });

  it.each([
    ['not found', ev.loaded(undefined), 'CHILD_NOT_FOUND', 'child session not found'],
    ['load failure', ev.loadFailed(new Error('disk on fire')), 'CHILD_LOAD_FAILED', 'failed to load child session: disk on fire'],
    ['load failure (non-Error cause)', ev.loadFailed('EACCES'), 'CHILD_LOAD_FAILED', 'failed to load child session: EACCES'],
    ['root session', ev.loaded(childSession({ kind: 'root' })), 'CHILD_NOT_KIND_CHILD', 'spawn job child session is not kind=child'],
    [
      'wrong parent',
      ev.loaded(childSession({ parent_session_id: 'someone-else' })),
      'CHILD_WRONG_PARENT',
      `child session ${CHILD} does not belong to parent ${PARENT}`,
    ],
    [
      'missing parent id',
      ev.loaded(childSession({ parent_session_id: undefined })),
      'CHILD_WRONG_PARENT',
      'child session child-1 does not belong to parent parent-1',
    ],
  ] as const)('%s → error with the exact contract text, no metadata written', (_name, event, code, text) => {
    const first = start();
    const step = send(first.snapshot, event);
    expect(step.snapshot.value).toBe('error');
    expect(step.snapshot.output).toEqual({ ...ids, status: 'error', code, error: text });
    expectOneCompletion(step);
    expectNoSave([...first.actions, ...step.actions]);
  });

  it('checks kind before parent (a root session of another parent reports not kind=child)', () => {
    const step = send(start().snapshot, ev.loaded(childSession({ kind: 'root', parent_session_id: 'x' })));
    expect(step.snapshot.output).toMatchObject({ error: jobErrorText.notChild });
  });

  it('the contract texts are exactly those of docs/job-lifecycle.md', () => {
    expect(jobErrorText.notFound).toBe('child session not found');
    expect(jobErrorText.loadFailed('boom')).toBe('failed to load child session: boom');
    expect(jobErrorText.notChild).toBe('spawn job child session is not kind=child');
    expect(jobErrorText.wrongParent('c', 'p')).toBe('child session c does not belong to parent p');
    expect(jobErrorText.noPendingMessage).toBe('No pending message to execute');
    expect(jobErrorText.timedOut(100)).toBe('child session timed out after 100 ms');
    expect(jobErrorText.idle(50)).toBe('child session idle for 50 ms');
    expect(jobErrorText.saveFailed('x')).toBe('failed to save child session: x');
  });

  it('a loaded child with a pending user message goes to reserving and invokes reserveRun', () => {
    const session = childSession();
    const step = send(start().snapshot, ev.loaded(session));
    expect(step.snapshot.value).toBe('reserving');
    expect(step.snapshot.context.session).toBe(session);
    expect(spawned(step.actions).get('reserveRun')).toEqual({ src: 'reserveRun', input: { job, runId: RUN } });
    // No actor per phase: nothing to stop when the load is done.
    expect(types(step.actions)).not.toContain('xstate.stopChild');
  });
});

describe('spawn-job machine: skipping → skipped', () => {
  const noPending = () => childSession({ messages: [message('user', 'q'), message('assistant', 'already answered')] });

  it('a child whose last message is not a user message is saved as skipped, then completes skipped', () => {
    const loaded = send(start().snapshot, ev.loaded(noPending()));
    expect(loaded.snapshot.value).toBe('skipping');
    expect(spawned(loaded.actions).get('saveSkipped')).toEqual({
      src: 'saveSession',
      input: { session: noPending(), runId: RUN, status: 'skipped', error: 'No pending message to execute' },
    });
    expect(types(loaded.actions)).not.toContain('publishCompletion');

    const done = send(loaded.snapshot, ev.savedSkipped());
    expect(done.snapshot.value).toBe('skipped');
    expect(done.snapshot.output).toEqual({ ...ids, status: 'skipped', error: 'No pending message to execute' });
    expectOneCompletion(done, [...loaded.actions, ...done.actions]);
  });

  it('a session with no messages at all is skipped', () => {
    const loaded = send(start().snapshot, ev.loaded(childSession({ messages: [] })));
    expect(loaded.snapshot.value).toBe('skipping');
  });

  it('a failed skipped-save ends in error with the save text (one completion)', () => {
    const loaded = send(start().snapshot, ev.loaded(noPending()));
    const failed = send(loaded.snapshot, ev.saveSkippedFailed(new Error('store down')));
    expect(failed.snapshot.value).toBe('error');
    expect(failed.snapshot.output).toEqual({
      ...ids,
      status: 'error',
      code: 'STORE_SAVE_FAILED',
      error: 'failed to save child session: store down',
    });
    expectOneCompletion(failed, [...loaded.actions, ...failed.actions]);
  });

  it('a run cancelled while queued is not skipped: it goes reserving → finalizing → cancelled', () => {
    const first = start(jobInput({}, { reason: 'parent' }));
    const loaded = send(first.snapshot, ev.loaded(noPending()));
    expect(loaded.snapshot.value).toBe('reserving');
    const reserved = send(loaded.snapshot, ev.reserved(true));
    expect(reserved.snapshot.value).toBe('finalizing');
    const done = send(reserved.snapshot, ev.savedFinal());
    expect(done.snapshot.value).toBe('cancelled');
    expect(done.snapshot.output).toEqual({ ...ids, status: 'cancelled', reason: 'parent' });
    expect(spawned([...loaded.actions, ...reserved.actions]).has('saveSkipped')).toBe(false);
  });
});

describe('spawn-job machine: reserving', () => {
  const reserving = () => send(start().snapshot, ev.loaded(childSession()));

  it('a lost reservation ends in duplicate: reportDuplicate, no completion, no metadata', () => {
    const first = start();
    const run = sendAll(first.snapshot, [ev.loaded(childSession()), ev.reserved(false)]);
    expect(run.snapshot.value).toBe('duplicate');
    expect(run.snapshot.status).toBe('done');
    expect(run.snapshot.output).toEqual({ ...ids, status: 'duplicate' });
    expect(types(run.actions)).toContain('reportDuplicate');
    expect(count([...first.actions, ...run.allActions], 'publishCompletion')).toBe(0);
    expectNoSave([...first.actions, ...run.allActions]);
  });

  it('a lost reservation wins over a cancel request (still no completion)', () => {
    const run = sendAll(start(jobInput({}, { reason: 'user' })).snapshot, [ev.loaded(childSession()), ev.reserved(false)]);
    expect(run.snapshot.value).toBe('duplicate');
    expect(count(run.allActions, 'publishCompletion')).toBe(0);
  });

  it('reserved → markingRunning, saving metadata running', () => {
    const step = send(reserving().snapshot, ev.reserved(true));
    expect(step.snapshot.value).toBe('markingRunning');
    expect(spawned(step.actions).get('saveRunning')).toEqual({
      src: 'saveSession',
      input: { session: childSession(), runId: RUN, status: 'running' },
    });
  });

  it.each(['user', 'parent', 'shutdown', 'deleted'] as const)(
    'cancelled while queued (input cancelRequest %s) → finalizing → cancelled without running the agent',
    (reason) => {
      const first = start(jobInput({}, { reason }));
      const toFinal = sendAll(first.snapshot, [ev.loaded(childSession()), ev.reserved(true)]);
      expect(toFinal.snapshot.value).toBe('finalizing');
      expect(spawned(toFinal.actions).get('saveFinal')).toEqual({
        src: 'saveSession',
        input: { session: childSession(), runId: RUN, status: 'cancelled', error: undefined },
      });
      const done = send(toFinal.snapshot, ev.savedFinal());
      expect(done.snapshot.value).toBe('cancelled');
      expect(done.snapshot.output).toEqual({ ...ids, status: 'cancelled', reason });
      const all = [...first.actions, ...toFinal.allActions, ...done.actions];
      expectOneCompletion(done, all);
      expect(spawned(all).has('agent')).toBe(false);
      expect(types(all)).not.toContain('openRun');
      expect(types(all)).not.toContain('publishHeartbeat');
    },
  );

  it('job.cancel during reserving is remembered (first reason wins) and ends cancelled once reserved', () => {
    const run = sendAll(reserving().snapshot, [ev.cancel('parent'), ev.cancel('user'), ev.reserved(true)]);
    expect(run.snapshot.value).toBe('finalizing');
    expect(run.snapshot.context.cancelRequest).toEqual({ reason: 'parent' });
    const done = send(run.snapshot, ev.savedFinal());
    expect(done.snapshot.output).toMatchObject({ status: 'cancelled', reason: 'parent' });
  });

  it('job.cancel during loading is remembered too', () => {
    const run = sendAll(start().snapshot, [ev.cancel('shutdown'), ev.loaded(childSession()), ev.reserved(true), ev.savedFinal()]);
    expect(run.snapshot.value).toBe('cancelled');
    expect(run.snapshot.output).toMatchObject({ status: 'cancelled', reason: 'shutdown' });
    expect(count(run.allActions, 'publishCompletion')).toBe(1);
  });

  it('a reserveRun failure ends in error with its cause (one completion, no metadata)', () => {
    const first = reserving();
    const failed = send(first.snapshot, ev.reserveFailed(new Error('registry offline')));
    expect(failed.snapshot.value).toBe('error');
    expect(failed.snapshot.output).toMatchObject({ ...ids, status: 'error', error: 'registry offline' });
    expectOneCompletion(failed, [...first.actions, ...failed.actions]);
    expectNoSave([...first.actions, ...failed.actions]);
  });
});

describe('spawn-job machine: markingRunning', () => {
  const marking = () => sendAll(start().snapshot, [ev.loaded(childSession()), ev.reserved(true)]);

  it('saved → running: openRun (which puts the run on the heartbeat wheel), then the agent starts; no delayed event per heartbeat', () => {
    const step = send(marking().snapshot, ev.savedRunning());
    expect(step.snapshot.value).toEqual({ running: { slot: 'held', idleWatch: 'unlimited' } });
    const seen = types(step.actions);
    expect(seen).toContain('openRun');
    expect(seen.indexOf('openRun')).toBeLessThan(seen.indexOf('runAgent'));
    expect(spawned(step.actions).get('agent')).toEqual({
      src: 'runAgent',
      input: { session: childSession(), job, runId: RUN },
    });
    expect(delayed(step.actions)).toEqual([]);
  });

  it('a failed running-save ends in error with the save text, never starting the agent', () => {
    const first = marking();
    const failed = send(first.snapshot, ev.saveRunningFailed(new Error('disk full')));
    expect(failed.snapshot.value).toBe('error');
    expect(failed.snapshot.output).toEqual({
      ...ids,
      status: 'error',
      code: 'STORE_SAVE_FAILED',
      error: 'failed to save child session: disk full',
    });
    expectOneCompletion(failed, [...first.allActions, ...failed.actions]);
    expect(types(failed.actions)).not.toContain('openRun');
  });

  it('job.cancel during markingRunning is deferred, then the run goes finalizing → cancelled', () => {
    const cancelledStep = send(marking().snapshot, ev.cancel('parent'));
    expect(cancelledStep.snapshot.value).toBe('markingRunning');
    expect(types(cancelledStep.actions)).not.toContain('saveRunning');
    expect(cancelledStep.snapshot.context.cancelRequest).toEqual({ reason: 'parent' });

    const saved = send(cancelledStep.snapshot, ev.savedRunning());
    expect(saved.snapshot.value).toBe('finalizing');
    expect(types(saved.actions)).not.toContain('openRun');
    expect(spawned(saved.actions).has('agent')).toBe(false);
    expect((spawned(saved.actions).get('saveFinal')?.input as { status: string }).status).toBe('cancelled');

    const done = send(saved.snapshot, ev.savedFinal());
    expect(done.snapshot.value).toBe('cancelled');
    expect(done.snapshot.output).toEqual({ ...ids, status: 'cancelled', reason: 'parent' });
    expectOneCompletion(done);
  });
});

describe('spawn-job machine: running', () => {
  const limited = jobInput({ maxRunMs: 100, idleTimeoutMs: 50 });

  it('with limits, the idle region is armed with its delay; the maxRun deadline was armed when the job began', () => {
    const run = toRunning(limited);
    expect(run.snapshot.value).toEqual({ running: { slot: 'held', idleWatch: 'watching' } });
    expect(delayed(run.actions)).toEqual([{ type: AFTER.idle, delay: 50 }]);
    // The deadline covers every phase: the runtime's `openJob` arms it on entry to `loading`.
    expect(types(start(limited).actions)).toContain('openJob');
  });

  it("heartbeats are not the machine's: no event of the wheel or timer reaches the job while it runs", () => {
    const step: JobStep = toRunning();
    expect(types(step.actions)).not.toContain('publishHeartbeat');
    expect(step.snapshot.value).toEqual({ running: { slot: 'held', idleWatch: 'unlimited' } });
    // An unknown timer event changes nothing.
    const after = send(step.snapshot, { type: 'xstate.after.heartbeatInterval.spawnJob.running.heartbeat.beating' });
    expect(after.snapshot.value).toEqual(step.snapshot.value);
    expect(after.actions).toEqual([]);
  });

  it('agent done → finalizing (closeRun, timers cancelled) → completed with the final answer', () => {
    const session = childSession();
    const run = toRunning(limited, session);
    session.messages.push(message('assistant', 'thinking…'), message('tool', '{"ok":true}'), message('assistant', 'the answer'));

    const finalizing = send(run.snapshot, ev.agentDone());
    expect(finalizing.snapshot.value).toBe('finalizing');
    expect(types(finalizing.actions)).toContain('closeRun');
    expect(cancelled(finalizing.actions)).toEqual([AFTER.idle]);
    expect(spawned(finalizing.actions).get('saveFinal')).toEqual({
      src: 'saveSession',
      input: { session, runId: RUN, status: 'completed', error: undefined },
    });

    const done = send(finalizing.snapshot, ev.savedFinal());
    expect(done.snapshot.value).toBe('completed');
    expect(done.snapshot.output).toEqual({ ...ids, status: 'completed', result: 'the answer' });
    expectOneCompletion(done);
  });

  it('a completed run without an assistant answer has no result', () => {
    const run = sendAll(toRunning().snapshot, [ev.agentDone(), ev.savedFinal()]);
    expect(run.snapshot.value).toBe('completed');
    expect(run.snapshot.output).toEqual({ ...ids, status: 'completed', result: undefined });
  });

  it('the result is capped at 4000 characters', () => {
    const session = childSession();
    const run = toRunning(jobInput(), session);
    session.messages.push(message('assistant', 'x'.repeat(MAX_RESULT_CHARS + 500)));
    const done = sendAll(run.snapshot, [ev.agentDone(), ev.savedFinal()]);
    expect(done.snapshot.output).toMatchObject({ result: 'x'.repeat(MAX_RESULT_CHARS) });
  });

  it('agent error → finalizing (metadata error) → error with the message', () => {
    const finalizing = send(toRunning().snapshot, ev.agentFailed(new Error('model exploded')));
    expect(finalizing.snapshot.value).toBe('finalizing');
    expect(spawned(finalizing.actions).get('saveFinal')?.input).toMatchObject({ status: 'error', error: 'model exploded' });
    const done = send(finalizing.snapshot, ev.savedFinal());
    expect(done.snapshot.value).toBe('error');
    expect(done.snapshot.output).toEqual({ ...ids, status: 'error', code: 'AGENT_FAILED', error: 'model exploded' });
    expectOneCompletion(done);
  });

  it.each(['user', 'parent', 'shutdown', 'deleted', 'interrupted'] satisfies CompletionReason[])(
    'job.cancel (%s) → finalizing → cancelled with that reason',
    (reason) => {
      const finalizing = send(toRunning(limited).snapshot, ev.cancel(reason));
      expect(finalizing.snapshot.value).toBe('finalizing');
      // closeRun aborts the agent (the runtime holds its AbortController).
      expect(types(finalizing.actions)).toContain('closeRun');
      expect(spawned(finalizing.actions).get('saveFinal')?.input).toMatchObject({ status: 'cancelled', error: undefined });
      const done = send(finalizing.snapshot, ev.savedFinal());
      expect(done.snapshot.value).toBe('cancelled');
      expect(done.snapshot.output).toEqual({ ...ids, status: 'cancelled', reason });
      expectOneCompletion(done);
    },
  );

  it('maxRun elapsed (job.timeout) → error, reason timeout, with the timeout text', () => {
    const finalizing = send(toRunning(limited).snapshot, ev.timeout());
    expect(finalizing.snapshot.value).toBe('finalizing');
    expect(spawned(finalizing.actions).get('saveFinal')?.input).toMatchObject({
      status: 'error',
      error: 'child session timed out after 100 ms',
    });
    const done = send(finalizing.snapshot, ev.savedFinal());
    expect(done.snapshot.value).toBe('error');
    expect(done.snapshot.output).toEqual({
      ...ids,
      status: 'error',
      code: 'RUN_TIMEOUT',
      reason: 'timeout',
      error: 'child session timed out after 100 ms',
    });
    expectOneCompletion(done);
  });

  it('idle elapsed (isIdle true) → error, reason idle, with the idle text', () => {
    const done = sendAll(toRunning(limited).snapshot, [ev.idleElapsed(), ev.savedFinal()]);
    expect(done.snapshot.value).toBe('error');
    expect(done.snapshot.output).toEqual({
      ...ids,
      status: 'error',
      code: 'RUN_IDLE',
      reason: 'idle',
      error: 'child session idle for 50 ms',
    });
    expect(count(done.allActions, 'publishCompletion')).toBe(1);
  });

  it('idle elapsed while not idle (isIdle false) re-arms the idle timer and keeps running', () => {
    const busy = spawnJobMachine.provide({ guards: { isIdle: () => false } });
    const run = toRunning(limited, childSession(), busy);
    const step = send(run.snapshot, ev.idleElapsed(), busy);
    expect(step.snapshot.value).toEqual({ running: { slot: 'held', idleWatch: 'watching' } });
    expect(types(step.actions)).toEqual(['xstate.cancel', 'xstate.raise']);
    expect(cancelled(step.actions)).toEqual([AFTER.idle]);
    expect(delayed(step.actions)).toEqual([{ type: AFTER.idle, delay: 50 }]);
    expect(step.snapshot.context.outcome).toBeUndefined();
  });

  it('without limits, idle events are ignored', () => {
    const run = toRunning();
    const step = sendAll(run.snapshot, [ev.idleElapsed()]);
    expect(step.snapshot.value).toEqual(run.snapshot.value);
    expect(step.allActions).toEqual([]);
  });
});

describe('spawn-job machine: finalizing', () => {
  it('a failed final save ends in error with the save text (one completion)', () => {
    const finalizing = send(toRunning().snapshot, ev.agentDone());
    const failed = send(finalizing.snapshot, ev.saveFinalFailed(new Error('store gone')));
    expect(failed.snapshot.value).toBe('error');
    expect(failed.snapshot.output).toEqual({
      ...ids,
      status: 'error',
      code: 'STORE_SAVE_FAILED',
      error: 'failed to save child session: store gone',
    });
    expectOneCompletion(failed);
  });

  it('a cancel arriving while finalizing a completed run does not change the outcome', () => {
    const session = childSession();
    const run = toRunning(jobInput(), session);
    session.messages.push(message('assistant', 'done'));
    const done = sendAll(run.snapshot, [ev.agentDone(), ev.cancel('user'), ev.savedFinal()]);
    expect(done.snapshot.value).toBe('completed');
    expect(done.snapshot.output).toMatchObject({ status: 'completed', result: 'done' });
  });

  it('late events after a final state change nothing and emit nothing', () => {
    const done = sendAll(toRunning().snapshot, [ev.agentDone(), ev.savedFinal()]);
    const late = sendAll(done.snapshot, [ev.cancel('user'), ev.agentFailed(new Error('late')), ev.savedFinal()]);
    expect(late.snapshot.value).toBe('completed');
    expect(late.allActions).toEqual([]);
  });

  it('completion comes after closeRun and nothing of the run follows it', () => {
    const run = toRunning(jobInput({ maxRunMs: 10 }));
    const all = sendAll(run.snapshot, [ev.agentDone(), ev.savedFinal()]).allActions;
    const seen = types(all);
    const completion = seen.indexOf('publishCompletion');
    // closeRun takes the run off the heartbeat wheel before the completion.
    expect(seen.lastIndexOf('closeRun')).toBeLessThan(completion);
    expect(completion).toBe(seen.length - 1);
  });
});

describe('finalAnswerOf / hasPendingUserMessage', () => {
  it('returns the last non-empty assistant message after the last user message', () => {
    expect(finalAnswerOf(undefined)).toBeUndefined();
    expect(finalAnswerOf(childSession())).toBeUndefined();
    expect(finalAnswerOf(childSession({ messages: [message('user', 'q'), message('assistant', 'a'), message('assistant', '')] }))).toBe(
      'a',
    );
    expect(
      finalAnswerOf(childSession({ messages: [message('assistant', 'old'), message('user', 'q'), message('tool', 't')] })),
    ).toBeUndefined();
    expect(finalAnswerOf(childSession({ messages: [message('user', 'q'), message('assistant', 'a'), message('tool', 't')] }))).toBe('a');
    expect(finalAnswerOf(childSession({ messages: [message('assistant', 'y'.repeat(MAX_RESULT_CHARS))] }))).toHaveLength(MAX_RESULT_CHARS);
  });

  it('detects a pending user message', () => {
    expect(hasPendingUserMessage(childSession())).toBe(true);
    expect(hasPendingUserMessage(childSession({ messages: [] }))).toBe(false);
    expect(hasPendingUserMessage(childSession({ messages: [message('user', 'q'), message('assistant', 'a')] }))).toBe(false);
  });
});
