/**
 * The public AI SDK agents: `aiSdkAgent` and `openAICompatibleAgent` over the implementations in
 * this folder, taking the structural options of `src/api/ai-sdk-agents.ts` (so the package's
 * `.d.ts` never imports `ai`).
 */
import type { AiSdkAgentOptions, OpenAICompatibleAgentOptions } from '../../api/ai-sdk-agents.js';
import type { AgentRuntime } from '../agent-runtime.js';
import { aiSdkAgent as aiSdkAgentImpl } from './ai-sdk-agent.js';
import { openAICompatibleAgent as openAICompatibleAgentImpl } from './openai-compatible-agent.js';

/** Copies an options object without its `undefined` values (the adapters read absent as unset). */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/**
 * An {@link AgentRuntime} on the Vercel AI SDK (`ai@6`, an optional peer dependency loaded on the
 * first run, so importing Sprout never loads it). Each run calls `streamText` on the session's
 * messages with the run's `AbortSignal`, streams the output as Bamboo events (`token`,
 * `reasoning_token`, `tool_start`, `tool_complete`, `tool_error`, `complete`), runs tool loops up
 * to `maxSteps`, and appends the assistant and tool messages of every finished step to
 * `session.messages`. A provider failure rejects the run with `AgentProviderError`, an abort
 * with `AgentAbortedError`, a missing `ai` package with `MissingPeerDependencyError`.
 *
 * @example
 * import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
 * const provider = createOpenAICompatible({ name: 'local', baseURL: 'http://127.0.0.1:8080/v1' });
 * const agent = aiSdkAgent({ model: (name) => provider.chatModel(name), system: 'Be brief.' });
 * const scheduler = createSpawnScheduler({ store, agent });
 */
export const aiSdkAgent = (options: AiSdkAgentOptions): AgentRuntime =>
  aiSdkAgentImpl(withoutUndefined(options) as unknown as Parameters<typeof aiSdkAgentImpl>[0]);

/**
 * An {@link aiSdkAgent} talking to any OpenAI-compatible chat-completions server (OpenAI, vLLM,
 * llama.cpp `llama-server`, Ollama, LM Studio…) through `@ai-sdk/openai-compatible` (an optional
 * peer dependency, with `ai`: `npm i ai@6 @ai-sdk/openai-compatible@2`). The job's `model`
 * string names the model on that server. Throws `SproutValidationError` for a bad `baseURL`.
 *
 * @example
 * const agent = openAICompatibleAgent({ baseURL: 'http://127.0.0.1:11434/v1', apiKey: process.env.OPENAI_API_KEY }); // Ollama
 * const scheduler = createSpawnScheduler({ store, agent });
 * await scheduler.spawnChild(parentId, { title: 'Sum', prompt: 'Add 2 and 2', model: 'qwen3:4b' });
 */
export const openAICompatibleAgent = (options: OpenAICompatibleAgentOptions): AgentRuntime =>
  openAICompatibleAgentImpl(withoutUndefined(options) as unknown as Parameters<typeof openAICompatibleAgentImpl>[0]);
