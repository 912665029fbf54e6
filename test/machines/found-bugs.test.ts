import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { planCancel, planEnqueue } from '../../machines/scheduler.plan.js';
import { finalAnswerOf, MAX_RESULT_CHARS } from '../../machines/spawn-job.machine.js';
import { effectsOf, emptyContext, queued, request, waiting } from './scheduler.fixtures.js';
import { childSession, ev, message, send, start } from './spawn-job.fixtures.js';

/**
 * Machine bugs found while writing the machine tests. Each test pins one bug and fails until
 * it is fixed; the fix is described next to it.
 */

describe('bug: a reserveRun failure is reported as AGENT_FAILED', () => {
  // machines/spawn-job.machine.ts, `reserving.invoke.onError`: the registry failed, the agent
  // never ran, yet the outcome says `code: 'AGENT_FAILED'`. Fix: add `'RESERVE_FAILED'` to
  // `JobErrorCode` (machines/spawn-job.events.ts) and use it there.
  it('ends in error with a code that does not blame the agent', () => {
    const reserving = send(start().snapshot, ev.loaded(childSession()));
    const failed = send(reserving.snapshot, ev.reserveFailed(new Error('registry offline')));
    expect(failed.snapshot.value).toBe('error');
    expect(failed.snapshot.output && 'code' in failed.snapshot.output ? failed.snapshot.output.code : undefined).toBeDefined();
    expect(failed.snapshot.output).not.toMatchObject({ code: 'AGENT_FAILED' });
  });
});

describe('bug: cancelling a queued run leaves a waiting enqueue blocked although the queue has room', () => {
  // machines/scheduler.plan.ts, `planCancel` never calls `planDispatch`: removing queued runs
  // opens queue room, but a waiting `enqueue()` stays unresolved (and its sub_session_started
  // unpublished) until some job actor ends — README.md, "Public API" says enqueue waits only *while the queue
  // is full*. Fix: end `planCancel` with `return planDispatch(plan);` (a no-op while stopping).
  it('admits the waiting enqueue in the same step', () => {
    let context = emptyContext({ concurrency: 1, queueCapacity: 1 });
    for (const child of ['a', 'b', 'c']) context = planEnqueue(context, request(child)).context;
    expect(queued(context)).toEqual(['run-b']);
    expect(waiting(context)).toEqual(['run-c']);

    const plan = planCancel(context, new Set(['b']), 'user');
    expect(waiting(plan.context)).toEqual([]);
    expect(queued(plan.context)).toEqual(['run-c']);
    expect(effectsOf(plan, 'enqueued')).toContainEqual({ kind: 'enqueued', requestId: 'req-c', runId: 'run-c', deduplicated: false });
  });
});

describe('bug: the 4000-char cap can split a surrogate pair', () => {
  // machines/spawn-job.machine.ts, `finalAnswerOf`: `content.slice(0, MAX_RESULT_CHARS)` cuts
  // UTF-16 code units, so an emoji straddling the cap leaves a lone high surrogate at the end of
  // `result` — not valid Unicode; strict JSON consumers (e.g. serde_json in a Bamboo UI) reject
  // it. Fix: after slicing, drop a trailing high surrogate:
  //   let end = MAX_RESULT_CHARS; const last = content.charCodeAt(end - 1);
  //   if (last >= 0xd800 && last <= 0xdbff) end -= 1; return content.slice(0, end);
  it('never ends the result with a lone high surrogate', () => {
    const content = `${'x'.repeat(MAX_RESULT_CHARS - 1)}😀 and more`;
    const result = finalAnswerOf(childSession({ messages: [message('user', 'q'), message('assistant', content)] }));
    expect(result).toBeDefined();
    expect(result!.length).toBeLessThanOrEqual(MAX_RESULT_CHARS);
    // No unpaired surrogate (String#isWellFormed is ES2024, beyond this project's lib).
    expect(result).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
  });
});

describe('bug: planDispatch recurses once per admitted batch (stack overflow with many startable waiters)', () => {
  // machines/scheduler.plan.ts, `planDispatch` ends with `return planDispatch(next)` whenever
  // room opened in the queue, so one job end that lets N waiting runs start (queue full of runs
  // blocked by their parent's cap, waiters of other parents) recurses N deep. With the default
  // stack it throws `RangeError: Maximum call stack size exceeded` at N ≈ 4,500 (allowed: the
  // concurrency schema goes to 1,000,000), and the throw happens inside an XState action, so the
  // whole scheduler actor errors. Each level also copies `waiting`, `effects`, `active`, so the
  // step is quadratic (≈4 s for N = 2,000). Fix: make it a loop —
  //   for (;;) { admit waiting into queue room; start eligible queued runs;
  //              if (!(waiting.length > 0 && queue.length < queueCapacity)) break; }
  // (and build `active` / `perParent` once per plan rather than spreading them per spawn).
  // Reproduced in a child process with a small stack so the test stays fast.
  const script = fileURLToPath(new URL('./found-bugs.dispatch-depth.ts', import.meta.url));
  const run = (waiters: number): string =>
    execFileSync(process.execPath, ['--stack-size=100', '--import', 'tsx', script, String(waiters)], {
      cwd: fileURLToPath(new URL('../../', import.meta.url)),
      encoding: 'utf8',
      timeout: 15_000,
    }).trim();

  it('control: the reproduction script runs at a small depth', () => {
    expect(run(20)).toBe('ok 21');
  });

  it('starting 1,000 waiting runs in one step does not overflow the stack', () => {
    expect(run(1000)).toBe('ok 1001');
  });
});
