// `sprout serve`'s scripted default agent (no model configured): a root's message grows a tree of
// three children — one answers, one fails, one runs a minute-long tool the user can stop — and
// the root answers with their outcomes; `[solo]` keeps the root alone. Simulated clock.
import { describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../src/api/ports.js';
import { serveDemoAgent } from '../../src/server/serve-agent.js';
import { createHarness } from '../support/harness.js';

const terminalsOf = (types: readonly string[]) => types.filter((type) => type === 'complete' || type === 'error');

async function demoHarness() {
  const holder: { agent?: AgentRuntime } = {};
  const h = await createHarness({ agent: { execute: (session, request) => holder.agent!.execute(session, request) } });
  holder.agent = serveDemoAgent(h.clock);
  return h;
}

describe('serveDemoAgent', () => {
  it('a root spawns three children, waits for them (one stopped by the user), and answers with their outcomes', async () => {
    const h = await demoHarness();
    await h.scheduler.run('root', { message: 'Compare three vendors' });
    await h.until(() => h.rootEvents.filter((e) => e.event.type === 'sub_session_started').length === 3, 'three children started');
    const children = await h.store.listChildren('root');
    expect(children.map((child) => child.title).sort()).toEqual(['Check the numbers', 'Deep dive', 'Survey sources']);
    const byTitle = new Map(children.map((child) => [child.title, child.id]));

    // Two end on their own; the deep dive's minute-long tool is still running.
    await h.until(() => h.completions().length === 2, 'two children ended');
    expect(new Map(h.completions().map((c) => [c.child_session_id, c.status]))).toEqual(
      new Map([
        [byTitle.get('Survey sources'), 'completed'],
        [byTitle.get('Check the numbers'), 'error'],
      ]),
    );
    expect(terminalsOf(h.rootEvents.map((e) => e.event.type))).toEqual([]);

    // The user stops it; the root then answers and ends with one terminal `complete`.
    expect(await h.scheduler.cancel(byTitle.get('Deep dive')!)).toBe(true);
    await h.until(() => terminalsOf(h.rootEvents.map((e) => e.event.type)).length === 1, 'the root ended');
    expect(terminalsOf(h.rootEvents.map((e) => e.event.type))).toEqual(['complete']);
    const root = await h.store.load('root');
    expect(root?.messages.at(-1)).toMatchObject({
      role: 'assistant',
      content: '1 of 3 tasks finished (Survey sources: completed; Check the numbers: error; Deep dive: cancelled).',
    });
    expect(root?.metadata.last_run_status).toBe('completed');
  });

  it('a root message with [solo] is answered by the root alone; a child runs the short script', async () => {
    const h = await demoHarness();
    await h.scheduler.run('root', { message: '[solo] Say hi' });
    await h.until(() => terminalsOf(h.rootEvents.map((e) => e.event.type)).length === 1, 'the root ended');
    expect(await h.store.listChildren('root')).toEqual([]);
    expect((await h.store.load('root'))?.messages.at(-1)?.content).toMatch(/^Summary of /);
  });
});
