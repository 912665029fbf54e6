import { describe, expect, it } from 'vitest';
import { firstValueFrom, toArray, take } from 'rxjs';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { EventLogError, SproutValidationError } from '../../src/errors.js';
import { AsyncEventLog } from '../conformance/async-event-log.js';
import { childSession, createHarness, rootSession, typesFor } from '../support/harness.js';

/**
 * The whole scheduler on an event log that answers every call with a promise (what a networked
 * backend does): runs announce, forward and complete exactly once, in seq order, with no gap.
 */
describe('the scheduler on an asynchronous event log', () => {
  it('runs children to one completion each, every stream contiguous and in order', async () => {
    const log = new AsyncEventLog(new MemoryEventLog(), { answerDelay: (n) => n % 3 });
    const h = await createHarness({
      agent: { script: [{ tokens: 'a b c' }, { wait: 100 }], answer: 'done' },
      scheduler: { eventLog: log, concurrency: 2, mirrorChildEvents: true },
      seed: [rootSession(), childSession('c1'), childSession('c2'), childSession('c3')],
    });
    for (const id of ['c1', 'c2', 'c3']) await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: id, model: 'm' });
    await h.until(() => h.completions().length === 3, 'three completions');
    const seqs = h.rootEvents.map((envelope) => envelope.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
    for (const id of ['c1', 'c2', 'c3']) {
      const types = typesFor(h.rootEvents, id);
      expect(types.filter((type) => type === 'sub_session_started')).toHaveLength(1);
      expect(types.filter((type) => type === 'sub_session_completed')).toHaveLength(1);
      expect(types[0]).toBe('sub_session_started');
      expect(types.at(-1)).toBe('sub_session_completed');
    }
    expect(h.completions().map((c) => c.status)).toEqual(['completed', 'completed', 'completed']);
    // The log holds exactly what subscribers saw.
    expect((await log.read('root', 0)).envelopes).toEqual(h.rootEvents);
    expect(await h.scheduler.waitForChildren('root', { childSessionIds: ['c1', 'c2', 'c3'] })).toHaveLength(3);
    await h.scheduler.stop();
  });

  it('an announcement the log rejects: the enqueue rejects with EventLogError, the child never runs, the next one does', async () => {
    let refuse = true;
    const log = new AsyncEventLog(new MemoryEventLog(), {
      refuse: (_sessionId, event: AgentEvent) => (refuse && event.type === 'sub_session_started' ? new Error('disk full') : undefined),
    });
    const h = await createHarness({
      agent: { script: [{ tokens: 'x' }], answer: 'ok' },
      scheduler: { eventLog: log },
      seed: [rootSession(), childSession('c1'), childSession('c2')],
    });
    await expect(h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' })).rejects.toBeInstanceOf(EventLogError);
    expect(h.diagnostics.some((d) => d.kind === 'event_log_error')).toBe(true);
    refuse = false;
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c2', model: 'm' });
    await h.until(() => h.completions().length === 1, 'c2 completes');
    await h.until(() => h.agent.calls.length >= 1);
    expect(h.completions()).toEqual([expect.objectContaining({ child_session_id: 'c2', status: 'completed' })]);
    expect(typesFor(h.rootEvents, 'c1')).toEqual([]);
    expect(h.agent.calls.map((call) => call.sessionId)).toEqual(['c2']);
    expect(await h.scheduler.getChild('c1')).not.toMatchObject({ status: 'running' });
    await h.scheduler.stop();
  });

  it('events() with afterSeq past the end errors the stream with SproutValidationError; within range it replays then goes live', async () => {
    const log = new AsyncEventLog(new MemoryEventLog());
    const h = await createHarness({ scheduler: { eventLog: log }, agent: { script: [{ tokens: 'x' }], answer: 'ok' } });
    await h.scheduler.spawnChild('root', { title: 'T', prompt: 'P' });
    await h.until(() => h.completions().length === 1);
    const last = h.rootEvents.at(-1)?.seq ?? 0;
    await expect(firstValueFrom(h.scheduler.events('root', { afterSeq: last + 5 }))).rejects.toBeInstanceOf(SproutValidationError);
    const replayed = await firstValueFrom(h.scheduler.events('root', { afterSeq: 1 }).pipe(take(last - 1), toArray()));
    expect(replayed.map((envelope) => envelope.seq)).toEqual(h.rootEvents.slice(1).map((envelope) => envelope.seq));
    await h.scheduler.stop();
  });
});
