import type { LanguageModelV3StreamPart } from '@ai-sdk/provider';
import { simulateReadableStream } from 'ai';
import { MockLanguageModelV3 } from 'ai/test';
import { afterEach, describe, expect, it } from 'vitest';
import { agentEventSchema, type AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { aiSdkAgent, spawnSessionTool, sproutTools, waitChildrenTool } from '../../src/agents/ai-sdk/index.js';
import { systemClock } from '../../src/clock.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { SpawnScheduler } from '../../src/api/spawn-scheduler.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';

type Part = LanguageModelV3StreamPart;
const usage = {
  inputTokens: { total: 5, noCache: 5, cacheRead: undefined, cacheWrite: undefined },
  outputTokens: { total: 3, text: 3, reasoning: undefined },
};
const finish = (reason: 'stop' | 'tool-calls'): Part => ({ type: 'finish', finishReason: { unified: reason, raw: reason }, usage });
const call = (toolCallId: string, toolName: string, input: unknown): Part => ({
  type: 'tool-call',
  toolCallId,
  toolName,
  input: JSON.stringify(input),
});
const step = (...parts: Part[]) => ({
  stream: simulateReadableStream<Part>({
    chunks: [{ type: 'stream-start', warnings: [] }, ...parts],
    initialDelayInMs: null,
    chunkDelayInMs: null,
  }),
});

const now = new Date().toISOString();
const root: Session = {
  id: 'root',
  title: 'Root',
  kind: 'root',
  root_session_id: 'root',
  spawn_depth: 0,
  model: 'mock',
  messages: [{ id: 'u1', role: 'user', content: 'Research X and Y in parallel', created_at: now }],
  metadata: {},
  created_at: now,
  updated_at: now,
};

describe('spawnSessionTool / waitChildrenTool (Bamboo spawn_session for AI SDK agents)', () => {
  let scheduler: SpawnScheduler | undefined;
  afterEach(async () => {
    await scheduler?.stop({ mode: 'cancel' });
  });

  it('a root agent on a model spawns two children through the scheduler, waits for them and answers with their results', async () => {
    const store = new MemorySessionStore();
    await store.save(structuredClone(root));
    scheduler = createSpawnScheduler({
      store,
      clock: systemClock,
      agent: scriptedAgent({
        clock: systemClock,
        script: [{ tokens: 'working', every: 1 }],
        answer: (session) => `found ${session.title}`,
      }),
    });
    await scheduler.start();
    const responses = [
      step(
        call('c1', 'spawn_session', { title: 'X', prompt: 'Research X' }),
        call('c2', 'spawn_session', { title: 'Y', prompt: 'Research Y', subagent_type: 'researcher' }),
        finish('tool-calls'),
      ),
      step(call('c3', 'wait_children', { policy: 'all' }), finish('tool-calls')),
      step(
        { type: 'text-start', id: 't' },
        { type: 'text-delta', id: 't', delta: 'Both done.' },
        { type: 'text-end', id: 't' },
        finish('stop'),
      ),
    ];
    let index = 0;
    const model = new MockLanguageModelV3({ doStream: () => Promise.resolve(responses[index++]!) });
    const agent = aiSdkAgent({ model, tools: sproutTools({ scheduler }) });
    const events: AgentEvent[] = [];
    const session = structuredClone(root);
    await agent.execute(session, {
      model: 'mock',
      signal: new AbortController().signal,
      emit: (event) => events.push(agentEventSchema.parse(event)),
    });

    const children = await store.listChildren('root');
    expect(children.map((child) => child.title).sort()).toEqual(['X', 'Y']);
    expect(children.every((child) => child.spawn_depth === 1 && child.parent_session_id === 'root')).toBe(true);
    const results = events
      .filter((event) => event.type === 'tool_complete')
      .map((event) => JSON.parse((event.result as { result: string }).result) as Record<string, unknown>);
    expect(results[0]).toMatchObject({ status: 'queued', child_session_id: expect.any(String) as unknown });
    const waited = results[2] as { children: { status: string; result: string }[] };
    expect(waited.children.map((child) => [child.status, child.result]).sort()).toEqual([
      ['completed', 'found X'],
      ['completed', 'found Y'],
    ]);
    expect(session.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'Both done.' });
  });

  it('defaults the parent to the session the agent runs, and refuses without one', async () => {
    const store = new MemorySessionStore();
    await store.save(structuredClone(root));
    scheduler = createSpawnScheduler({ store, clock: systemClock, agent: scriptedAgent({ clock: systemClock, script: [] }) });
    await scheduler.start();
    const spawn = spawnSessionTool({ scheduler });
    const spawned = await spawn.execute(
      { title: 'Z', prompt: 'p' },
      { experimental_context: { sessionId: 'root', rootSessionId: 'root' } },
    );
    expect((await store.load(spawned.child_session_id))?.parent_session_id).toBe('root');
    await expect(spawn.execute({ title: 'Z', prompt: 'p' }, {})).rejects.toMatchObject({ code: 'MISSING_PARENT_SESSION' });
    const wait = waitChildrenTool({ scheduler, parentSessionId: 'root' });
    expect((await wait.execute({ child_session_ids: [spawned.child_session_id] }, {})).children[0]).toMatchObject({ status: 'completed' });
  });
});

describe('aiSdkAgent under the scheduler: spawn_session / wait_children wired by default', () => {
  let scheduler: SpawnScheduler | undefined;
  afterEach(async () => {
    await scheduler?.stop({ mode: 'cancel' });
  });

  const text = (value: string): Part[] => [
    { type: 'text-start', id: 't' },
    { type: 'text-delta', id: 't', delta: value },
    { type: 'text-end', id: 't' },
  ];
  /** Root: spawn two children, then wait, then answer; a child: answer at once. Decided from the prompt. */
  const treeModel = () =>
    new MockLanguageModelV3({
      doStream: (options) => {
        const prompt = options.prompt;
        const firstUser = JSON.stringify(prompt.find((message) => message.role === 'user')?.content ?? '');
        if (firstUser.includes('Investigate'))
          return Promise.resolve(step(...text(`found ${firstUser.includes('X') ? 'X' : 'Y'}`), finish('stop')));
        const calls = prompt
          .filter((message) => message.role === 'assistant')
          .flatMap((message) => (Array.isArray(message.content) ? message.content : []))
          .filter((part) => part.type === 'tool-call').length;
        if (calls === 0)
          return Promise.resolve(
            step(
              call('c1', 'spawn_session', { title: 'X', prompt: 'Investigate X' }),
              call('c2', 'spawn_session', { title: 'Y', prompt: 'Investigate Y' }),
              finish('tool-calls'),
            ),
          );
        if (calls === 2) return Promise.resolve(step(call('c3', 'wait_children', {}), finish('tool-calls')));
        return Promise.resolve(step(...text('Both done.'), finish('stop')));
      },
    });

  it('a root run grows a tree on a model at concurrency 1: the waiting root gives its slot back, and ends with one complete', async () => {
    const store = new MemorySessionStore();
    await store.save(structuredClone(root));
    scheduler = createSpawnScheduler({ store, clock: systemClock, agent: aiSdkAgent({ model: treeModel() }), concurrency: 1 });
    await scheduler.start();
    const events: AgentEvent[] = [];
    const terminal = new Promise<AgentEvent>((resolve) => {
      scheduler?.events('root').subscribe(({ event }) => {
        events.push(event);
        if (event.type === 'complete' || event.type === 'error') resolve(event);
      });
    });
    await scheduler.run('root', { message: 'Research X and Y' });
    expect(await terminal).toMatchObject({ type: 'complete' });
    const children = await store.listChildren('root');
    expect(children.map((child) => [child.title, child.metadata.last_run_status]).sort()).toEqual([
      ['X', 'completed'],
      ['Y', 'completed'],
    ]);
    const stored = await store.load('root');
    expect(stored?.messages.at(-1)).toMatchObject({ role: 'assistant', content: 'Both done.' });
    // The wait returned both answers to the model, and the children's streams reached the root wrapped.
    const waited = events.find((event) => event.type === 'tool_complete' && event.tool_call_id === 'c3');
    expect(JSON.stringify(waited)).toContain('found X');
    expect(events.filter((event) => event.type === 'sub_session_completed')).toHaveLength(2);
    expect(events.some((event) => event.type === 'sub_session_event' && event.event.type === 'token')).toBe(true);
  });

  it('spawnTools: false leaves the model without them', async () => {
    const store = new MemorySessionStore();
    await store.save(structuredClone(root));
    const seen: string[][] = [];
    const model = new MockLanguageModelV3({
      doStream: (options) => {
        seen.push((options.tools ?? []).map((t) => t.name));
        return Promise.resolve(step(...text('ok'), finish('stop')));
      },
    });
    scheduler = createSpawnScheduler({ store, clock: systemClock, agent: aiSdkAgent({ model, spawnTools: false }) });
    await scheduler.start();
    const done = new Promise<void>((resolve) => scheduler?.events('root').subscribe(({ event }) => event.type === 'complete' && resolve()));
    await scheduler.run('root', { message: 'hi' });
    await done;
    expect(seen).toEqual([[]]);
    const withTools = new MockLanguageModelV3({
      doStream: (options) => {
        seen.push((options.tools ?? []).map((t) => t.name).sort());
        return Promise.resolve(step(...text('ok'), finish('stop')));
      },
    });
    const other = createSpawnScheduler({ store, clock: systemClock, agent: aiSdkAgent({ model: withTools }) });
    await other.start();
    const again = new Promise<void>((resolve) => other.events('root').subscribe(({ event }) => event.type === 'complete' && resolve()));
    await other.run('root', { message: 'hi again' });
    await again;
    await other.stop();
    expect(seen[1]).toEqual(['spawn_session', 'wait_children']);
  });
});
