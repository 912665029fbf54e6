// `enqueue(job, { ancestors })`: a run whose parent runs somewhere else (a distributed worker's
// grandchild under a parent on another worker) is still forwarded up to the root, wrapped once per
// level, through the links it was handed; the scheduler's own runs keep the ledger's links.
// Simulated clock.
import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { SproutValidationError } from '../../src/errors.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

/** Unwraps nested `sub_session_event`s: `parent>child@run` per level, and the innermost event. */
function unwrap(event: AgentEvent): { via: string[]; inner: AgentEvent } {
  const via: string[] = [];
  let inner = event;
  while (inner.type === 'sub_session_event') {
    via.push(`${inner.parent_session_id}>${inner.child_session_id}@${inner.run_id}`);
    inner = inner.event;
  }
  return { via, inner };
}

const seed = [
  rootSession(),
  childSession('c1'),
  childSession('g1', 'c1', { root_session_id: 'root', spawn_depth: 2 }),
  childSession('h1', 'g1', { root_session_id: 'root', spawn_depth: 3 }),
];
const grandJob = { parentSessionId: 'c1', childSessionId: 'g1', model: 'm' };
const toRoot = [{ sessionId: 'c1', parentSessionId: 'root', runId: 'run-c1' }];

describe('enqueue ancestors', () => {
  it("forwards a grandchild whose parent runs elsewhere to the root's stream, wrapped per level, once", async () => {
    const h = await createHarness({ seed, agent: { script: [{ tokens: 'deep work' }], answer: 'deep work' } });
    const parentStream = h.eventsOf('c1');
    await h.scheduler.enqueue(grandJob, { runId: 'run-g1', ancestors: toRoot });
    await h.until(() => h.completions('c1').length === 1);
    await h.advance(10_000);

    // The root's stream: every event of the parent's stream, in order, wrapped once more under
    // the parent's run; the grandchild's own events thus twice (root ← c1 ← g1).
    expect(h.rootEvents.map((e) => e.event)).toEqual(
      parentStream.map((e) => ({
        type: 'sub_session_event',
        parent_session_id: 'root',
        child_session_id: 'c1',
        run_id: 'run-c1',
        event: e.event,
      })),
    );
    const onRoot = h.rootEvents.map((e) => unwrap(e.event));
    const own = onRoot.filter((u) => u.via.length === 2);
    expect(own.map((u) => u.inner.type)).toEqual(['token', 'token', 'complete']);
    expect(own.every((u) => u.via.join(' ') === 'root>c1@run-c1 c1>g1@run-g1')).toBe(true);
    expect(onRoot.map((u) => u.inner.type)).toContain('sub_session_completed');
    expect(h.rootEvents.map((e) => e.seq)).toEqual(h.rootEvents.map((_, i) => i + 1));

    // The links went with the run: a later event on the parent's stream stays there.
    const before = h.rootEvents.length;
    await h.scheduler.enqueue(grandJob, { runId: 'run-g1b' });
    await h.until(() => h.completions('c1').length === 2);
    await h.advance(10_000);
    expect(h.rootEvents.length).toBe(before);
  });

  it('follows every link it was handed, up to maxDepth hops', async () => {
    const h = await createHarness({ seed, agent: { script: [{ tokens: 'x' }], answer: 'x' }, scheduler: { maxDepth: 2 } });
    const links = [{ sessionId: 'g1', parentSessionId: 'c1', runId: 'run-g1' }, ...toRoot];
    await h.scheduler.enqueue({ parentSessionId: 'g1', childSessionId: 'h1', model: 'm' }, { runId: 'run-h1', ancestors: links });
    await h.until(() => h.completions('g1').length === 1);
    await h.advance(10_000);
    // Two hops from each stream: h1's own events reach c1's, not the root's (three levels up);
    // its start and end, published on g1's stream, reach the root.
    const tokensOn = (sessionId: string) => h.eventsOf(sessionId).filter((e) => unwrap(e.event).inner.type === 'token');
    expect(tokensOn('c1').map((e) => unwrap(e.event).via)).toEqual([['c1>g1@run-g1', 'g1>h1@run-h1']]);
    expect(tokensOn('root')).toEqual([]);
    expect(h.rootEvents.map((e) => unwrap(e.event).inner.type)).toContain('sub_session_completed');
  });

  it("uses the ledger's link for a session whose run it holds, and none for one it saw end", async () => {
    const h = await createHarness({ seed, agent: { script: [{ tokens: 'x' }], answer: 'x' } });
    // c1's run 'run-c1' ran here and ended: a link naming it is stale.
    await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'c1', model: 'm' }, { runId: 'run-c1' });
    await h.until(() => h.completions().length === 1);
    const seen = h.rootEvents.length;
    await h.scheduler.enqueue(grandJob, { runId: 'run-g1', ancestors: toRoot });
    await h.until(() => h.completions('c1').length === 1);
    await h.advance(10_000);
    expect(h.rootEvents.length).toBe(seen);
  });

  it('refuses links that are not a chain up from the parent', async () => {
    const h = await createHarness({ seed });
    const link = (sessionId: string, parentSessionId: string) => ({ sessionId, parentSessionId, runId: 'r' });
    const refused = [
      [link('root', 'c1')], // not the job's parent
      [link('c1', 'root'), link('g1', 'c1')], // not the parent's parent
      [link('c1', 'c1')], // a cycle
      [{ sessionId: 'c1', parentSessionId: 'root', runId: '' }],
      [{ ...link('c1', 'root'), extra: 1 }],
    ];
    for (const ancestors of refused) {
      await expect(h.scheduler.enqueue(grandJob, { ancestors })).rejects.toBeInstanceOf(SproutValidationError);
    }
    const rootJob = { parentSessionId: '', childSessionId: 'root', model: 'm' };
    await expect(h.scheduler.enqueue(rootJob, { root: true, ancestors: toRoot })).rejects.toBeInstanceOf(SproutValidationError);
    // Nothing was queued by the refused calls: the first run is the valid one.
    const { runId } = await h.scheduler.enqueue(grandJob, { ancestors: toRoot });
    await h.until(() => h.completions('c1').length === 1);
    expect(h.completions('c1').map((c) => c.run_id)).toEqual([runId]);
  });
});
