import { randomUUID } from 'node:crypto';
import type { AgentRuntime } from '../../../src/agents/agent-runtime.js';
import { createStepRecorder } from '../../../src/agents/ai-sdk/step-recorder.js';
import { systemClock, toRfc3339 } from '../../../src/clock.js';
import { serveDemoAgent } from '../../../src/server/serve-agent.js';

/**
 * An agent that records its turns the way Sprout's AI SDK agent does (`createStepRecorder`:
 * assistant `tool_calls`, then `role: 'tool'` results with `tool_name` / `is_error`), driven by
 * the last user message:
 *
 * - `[hang]`: one token, then waits until cancelled;
 * - `[spawn]`: spawns a child whose prompt is `[hang]`, answers, and ends without waiting for it;
 * - anything else: a token, a `web_search` tool call that succeeds, a `read_file` call that
 *   fails, then the answer `Answer to <message>`.
 */
export function bambooUiAgent(): AgentRuntime {
  return {
    async execute(session, request) {
      const prompt = session.messages.filter((message) => message.role === 'user').at(-1)?.content ?? '';
      const step = createStepRecorder(session, () => ({ id: randomUUID(), created_at: toRfc3339(systemClock.now()) }));
      if (prompt.includes('[hang]')) {
        request.emit({ type: 'token', content: 'Starting' });
        await new Promise<never>((_, reject) => {
          const abort = (): void => reject(new Error('aborted', { cause: request.signal.reason }));
          if (request.signal.aborted) abort();
          else request.signal.addEventListener('abort', abort, { once: true });
        });
      }
      if (prompt.includes('[spawn]')) {
        const spawner = request.spawner;
        if (spawner === undefined) throw new Error('no spawner');
        await spawner.spawnChild(session.id, { title: 'Helper', prompt: '[hang] help' });
        request.emit({ type: 'token', content: 'Spawned a helper' });
        step.text('Spawned a helper');
        step.flush();
        return;
      }
      request.emit({ type: 'token', content: 'Looking' });
      step.text('Looking');
      request.emit({ type: 'tool_start', tool_call_id: 'call-1', tool_name: 'web_search', arguments: { q: prompt } });
      step.toolCall('call-1', 'web_search', { q: prompt });
      request.emit({ type: 'tool_complete', tool_call_id: 'call-1', result: { hits: 3 } });
      step.toolResult('call-1', 'web_search', { hits: 3 });
      request.emit({ type: 'tool_start', tool_call_id: 'call-2', tool_name: 'read_file', arguments: { path: 'x' } });
      step.toolCall('call-2', 'read_file', { path: 'x' });
      request.emit({ type: 'tool_error', tool_call_id: 'call-2', error: 'Error: no such file' });
      step.toolError('call-2', 'read_file', 'Error: no such file');
      step.flush();
      const answer = `Answer to ${prompt}`;
      request.emit({ type: 'token', content: answer });
      step.text(answer);
      step.flush();
      request.emit({ type: 'complete', usage: { prompt_tokens: 5, completion_tokens: 7 } });
    },
  };
}

/**
 * The scenario's agent: `sprout serve`'s scripted default (`serveDemoAgent`), sped up except for
 * the `[slow]` child's minute-long tool. A root's message makes the default spawn its three
 * children — `Survey sources` (succeeds), `Check the numbers` (fails) and `Deep dive` (the slow
 * tool, for the UI's Stop) — wait for them, and answer with their outcomes.
 */
export function teamAgent(): AgentRuntime {
  const fast = serveDemoAgent(systemClock, { speed: 0.05 });
  const slow = serveDemoAgent(systemClock);
  return {
    execute(session, request) {
      const prompt = session.messages.filter((message) => message.role === 'user').at(-1)?.content ?? '';
      return (session.kind === 'child' && prompt.includes('[slow]') ? slow : fast).execute(session, request);
    },
  };
}
