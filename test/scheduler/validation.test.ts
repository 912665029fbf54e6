import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { SpawnSchedulerOptions } from '../../src/api/spawn-scheduler-options.js';
import { SchedulerStoppedError, SessionNotFoundError, SpawnDepthExceededError, SproutValidationError } from '../../src/errors.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock } from '../../src/testing/simulated-clock.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';
import { completionsIn, jobFor, plainStore } from '../support/batch-b.js';

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('enqueue input', () => {
  const bad: [string, unknown][] = [
    ['missing model', { parentSessionId: 'root', childSessionId: 'c1' }],
    ['missing everything', {}],
    ['empty parent id', { parentSessionId: '', childSessionId: 'c1', model: 'm' }],
    ['empty child id', { parentSessionId: 'root', childSessionId: '', model: 'm' }],
    ['empty model', { parentSessionId: 'root', childSessionId: 'c1', model: '' }],
    ['wrong type', { parentSessionId: 'root', childSessionId: 42, model: 'm' }],
    ['extra field', { parentSessionId: 'root', childSessionId: 'c1', model: 'm', priority: 1 }],
    ['a string', 'c1'],
    ['null', null],
    ['undefined', undefined],
    ['an array', ['root', 'c1', 'm']],
  ];

  it.each(bad)('rejects %s with SproutValidationError and publishes nothing', async (_name, job) => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    const error = await rejection(h.scheduler.enqueue(job as never));
    expect(error).toBeInstanceOf(SproutValidationError);
    const validation = error as SproutValidationError;
    expect(validation.code).toBe('VALIDATION_FAILED');
    expect(validation.issues.length).toBeGreaterThan(0);
    await h.advance(1000);
    expect(h.rootEvents).toEqual([]);
    expect(h.agent.calls).toEqual([]);
    expect((await h.store.load('c1'))?.metadata).toEqual({});
  });

  it('names the failing fields in the issues', async () => {
    const h = await createHarness();
    const error = (await rejection(h.scheduler.enqueue({ parentSessionId: '', childSessionId: 'c1' } as never))) as SproutValidationError;
    expect(error.issues.map((issue) => issue.path.join('.')).sort()).toEqual(['model', 'parentSessionId']);
    expect(error.message).toContain('parentSessionId');
  });

  it('a bad enqueue does not disturb the next good one', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    await expect(h.scheduler.enqueue({ nope: true } as never)).rejects.toBeInstanceOf(SproutValidationError);
    await h.scheduler.enqueue(jobFor('c1'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]?.status).toBe('completed');
  });
});

describe('spawnChild input', () => {
  const badBriefs: [string, unknown][] = [
    ['missing prompt', { title: 'T' }],
    ['empty title', { title: '', prompt: 'p' }],
    ['empty prompt', { title: 'T', prompt: '' }],
    ['extra field', { title: 'T', prompt: 'p', color: 'red' }],
    ['a string', 'do things'],
    ['null', null],
    ['title too long', { title: 'x'.repeat(501), prompt: 'p' }],
  ];

  it.each(badBriefs)('rejects a brief with %s and saves nothing', async (_name, brief) => {
    const h = await createHarness();
    const error = await rejection(h.scheduler.spawnChild('root', brief as never));
    expect(error).toBeInstanceOf(SproutValidationError);
    expect((error as SproutValidationError).code).toBe('VALIDATION_FAILED');
    expect((error as SproutValidationError).issues.length).toBeGreaterThan(0);
    expect(await h.store.listChildren('root')).toEqual([]);
    expect(h.rootEvents).toEqual([]);
  });

  it('rejects an unknown parent with SessionNotFoundError and saves nothing', async () => {
    const h = await createHarness();
    const error = await rejection(h.scheduler.spawnChild('ghost', { title: 'T', prompt: 'p' }));
    expect(error).toBeInstanceOf(SessionNotFoundError);
    expect((error as SessionNotFoundError).code).toBe('SESSION_NOT_FOUND');
    expect((error as SessionNotFoundError).sessionId).toBe('ghost');
    expect(await h.store.listChildren('ghost')).toEqual([]);
    expect(h.eventsOf('ghost')).toEqual([]);
    expect(h.agent.calls).toEqual([]);
  });

  it('rejects an empty parent id with SproutValidationError', async () => {
    const h = await createHarness();
    await expect(h.scheduler.spawnChild('', { title: 'T', prompt: 'p' })).rejects.toBeInstanceOf(SproutValidationError);
  });

  it('refuses a child deeper than maxDepth (SpawnDepthExceededError) and saves nothing', async () => {
    const h = await createHarness({
      scheduler: { maxDepth: 1 },
      seed: [rootSession(), childSession('c1', 'root', { metadata: { last_run_status: 'completed' } })],
    });
    const error = await rejection(h.scheduler.spawnChild('c1', { title: 'Too deep', prompt: 'p' }));
    expect(error).toBeInstanceOf(SpawnDepthExceededError);
    expect(error).toMatchObject({ code: 'SPAWN_DEPTH_EXCEEDED', depth: 2, maxDepth: 1 });
    expect(await h.store.listChildren('c1')).toEqual([]);
    expect(h.eventsOf('c1')).toEqual([]);

    // One level down is still allowed.
    const { childSessionId } = await h.scheduler.spawnChild('root', { title: 'Fine', prompt: 'p' });
    expect((await h.store.load(childSessionId))?.spawn_depth).toBe(1);
    await h.until(() => h.completions().some((c) => c.child_session_id === childSessionId));
  });

  it('maxDepth 0 refuses every child', async () => {
    const h = await createHarness({ scheduler: { maxDepth: 0 } });
    await expect(h.scheduler.spawnChild('root', { title: 'T', prompt: 'p' })).rejects.toBeInstanceOf(SpawnDepthExceededError);
    expect(await h.store.listChildren('root')).toEqual([]);
  });
});

describe('scheduler options', () => {
  const clock = createTestClock();
  const store = new MemorySessionStore();
  const agent = scriptedAgent({ clock });
  const cases: [string, unknown][] = [
    ['concurrency 0', { store, agent, concurrency: 0 }],
    ['negative perParentConcurrency', { store, agent, perParentConcurrency: -1 }],
    ['fractional queueCapacity', { store, agent, queueCapacity: 1.5 }],
    ['missing store', { agent }],
    ['a store without methods', { store: {}, agent }],
    ['missing agent', { store }],
    ['an agent without execute', { store, agent: { run: () => Promise.resolve() } }],
    ['an unknown option', { store, agent, concurency: 2 }],
    ['a bad recover mode', { store, agent, recover: 'retry' }],
    ['not an object', 'fast'],
  ];

  it.each(cases)('throws SproutValidationError for %s', (_name, options) => {
    const error = thrown(() => createSpawnScheduler(options as SpawnSchedulerOptions));
    expect(error).toBeInstanceOf(SproutValidationError);
    expect((error as SproutValidationError).code).toBe('VALIDATION_FAILED');
    expect((error as SproutValidationError).issues.length).toBeGreaterThan(0);
  });
});

describe('not running', () => {
  it('rejects enqueue and spawnChild before start with SchedulerStoppedError', async () => {
    const h = await createHarness({ start: false, seed: [rootSession(), childSession('c1')] });
    const error = await rejection(h.scheduler.enqueue(jobFor('c1')));
    expect(error).toBeInstanceOf(SchedulerStoppedError);
    // Before start() the message says what to do; it still begins with the contract's text.
    expect((error as SchedulerStoppedError).message).toBe('spawn scheduler is not running: call start() first');
    expect((error as SchedulerStoppedError).code).toBe('SCHEDULER_STOPPED');
    await expect(h.scheduler.spawnChild('root', { title: 'T', prompt: 'p' })).rejects.toThrow(
      'spawn scheduler is not running: call start() first',
    );
    expect(await h.store.listChildren('root')).toHaveLength(1);
    expect(h.rootEvents).toEqual([]);
  });

  it('rejects enqueue and spawnChild after stop with SchedulerStoppedError', async () => {
    const h = await createHarness({ seed: [rootSession(), childSession('c1')] });
    await h.scheduler.stop();
    const error = await rejection(h.scheduler.enqueue(jobFor('c1')));
    expect(error).toBeInstanceOf(SchedulerStoppedError);
    expect((error as Error).message).toBe('spawn scheduler is not running');
    await expect(h.scheduler.spawnChild('root', { title: 'T', prompt: 'p' })).rejects.toBeInstanceOf(SchedulerStoppedError);
    expect(h.rootEvents).toEqual([]);
    expect(h.agent.calls).toEqual([]);
  });

  it('rejects enqueue while a drain is in progress', async () => {
    const h = await createHarness({ agent: { script: [{ wait: 1000 }] }, seed: [rootSession(), childSession('c1'), childSession('c2')] });
    await h.scheduler.enqueue(jobFor('c1'));
    const stopping = h.scheduler.stop({ mode: 'drain' });
    await expect(h.scheduler.enqueue(jobFor('c2'))).rejects.toBeInstanceOf(SchedulerStoppedError);
    await h.advance(1000);
    await stopping;
    expect(h.completions().map((c) => [c.child_session_id, c.status])).toEqual([['c1', 'completed']]);
  });
});

describe('bad data inside a run', () => {
  const badEvents: [string, unknown][] = [
    ['token with numeric content', { type: 'token', content: 5 }],
    ['unknown type', { type: 'nope' }],
    ['tool_start without a name', { type: 'tool_start', tool_call_id: 't1', arguments: {} }],
    ['not an object', 'token'],
  ];

  it.each(badEvents)('an agent event that fails the schema (%s) ends that run in error; another run completes', async (_name, event) => {
    const h = await createHarness({
      agent: {
        scripts: {
          bad: [{ tokens: 'ok so far' }, { wait: 500 }, { emit: event as AgentEvent }, { wait: 5000 }],
          good: [{ tokens: 'fine' }, { wait: 2000 }],
        },
        answer: 'answer',
      },
      seed: [rootSession(), childSession('bad'), childSession('good')],
    });
    await h.scheduler.enqueue(jobFor('bad'));
    await h.scheduler.enqueue(jobFor('good'));
    await h.until(() => h.completions().length === 2);

    const bad = completionsIn(h.rootEvents, 'bad')[0];
    expect(bad?.status).toBe('error');
    expect(bad?.error).toContain('invalid event');
    expect(bad?.result).toBeUndefined();
    expect(completionsIn(h.rootEvents, 'good')[0]).toMatchObject({ status: 'completed', result: 'answer' });

    // The invalid event itself is never forwarded; the valid ones before it are, then the run's
    // one terminal event (its agent's `error`, with why the run failed).
    const forwarded = h.rootEvents.flatMap((e) =>
      e.event.type === 'sub_session_event' && e.event.child_session_id === 'bad' ? [e.event.event] : [],
    );
    expect(forwarded.at(-1)).toMatchObject({ type: 'error', message: expect.stringContaining('invalid event') as string });
    expect(forwarded.slice(0, -1).every((e) => e.type === 'token')).toBe(true);
    expect(forwarded.length).toBeGreaterThan(1);
    const stored = await h.store.load('bad');
    expect(stored?.metadata.last_run_status).toBe('error');
    expect(stored?.metadata.last_run_error).toContain('invalid event');
  });

  // Pins a fixed bug: a run that an invalid event ended did not abort its agent (XState does not
  // abort a promise actor that already rejected), so the agent kept working after its slot went to
  // the next run and the concurrency cap no longer held.
  it('aborts the agent of a run that an invalid event ended, before its slot is reused', async () => {
    const h = await createHarness({
      agent: {
        scripts: {
          bad: [{ emit: { type: 'nope' } as unknown as AgentEvent }, { wait: 10_000 }],
          next: [{ wait: 1000 }],
        },
      },
      scheduler: { concurrency: 1 },
      seed: [rootSession(), childSession('bad'), childSession('next')],
    });
    await h.scheduler.enqueue(jobFor('bad'));
    await h.scheduler.enqueue(jobFor('next'));
    await h.until(() => h.completions().length === 2);
    const badCall = h.agent.calls.find((c) => c.sessionId === 'bad');
    expect(completionsIn(h.rootEvents, 'bad')[0]?.status).toBe('error');
    expect(badCall?.signal.aborted).toBe(true);
    expect(badCall?.settledAt).toBe(0);
    expect(h.agent.maxActive).toBe(1);
    await h.advance(15_000);
    expect(h.diagnostics.filter((d) => d.kind === 'late_event')).toEqual([]);
  });

  it('an invalid event emitted synchronously from execute also ends the run in error', async () => {
    const h = await createHarness({
      agent: { scripts: { bad: [{ emit: { type: 'token', content: 5 } as unknown as AgentEvent }] } },
      seed: [rootSession(), childSession('bad')],
    });
    await h.scheduler.enqueue(jobFor('bad'));
    await h.until(() => h.completions().length === 1);
    expect(h.completions()[0]).toMatchObject({ status: 'error', error: expect.stringContaining('invalid event') as string });
  });

  it('a session in the store that fails the schema ends the run in error naming the session, writing nothing', async () => {
    const inner = new MemorySessionStore();
    const store = plainStore(inner, (id, loaded) =>
      id === 'broken' ? { ...(loaded as object), spawn_depth: 'deep', messages: 'none' } : loaded,
    );
    const h = await createHarness({
      store,
      agent: { script: [{ wait: 1000 }] },
      seed: [rootSession(), childSession('broken'), childSession('fine')],
    });
    await h.scheduler.enqueue(jobFor('broken'));
    await h.scheduler.enqueue(jobFor('fine'));
    await h.until(() => h.completions().length === 2);

    const broken = completionsIn(h.rootEvents, 'broken')[0];
    expect(broken?.status).toBe('error');
    expect(broken?.error).toMatch(/^failed to load child session: /);
    expect(broken?.error).toContain('broken');
    expect(broken?.error).toContain('spawn_depth');
    expect(completionsIn(h.rootEvents, 'fine')[0]?.status).toBe('completed');
    expect(h.agent.calls.map((c) => c.sessionId)).toEqual(['fine']);
    expect((await inner.load('broken'))?.metadata).toEqual({});
  });
});
