import type { OpenAICompatibleProvider, OpenAICompatibleProviderSettings } from '@ai-sdk/openai-compatible';
import { z } from 'zod';
import { SproutValidationError } from '../../errors.js';
import type { AgentRuntime } from '../agent-runtime.js';
import { AgentProviderError } from './agent-errors.js';
import { aiSdkAgent, type AiSdkAgentOptions } from './ai-sdk-agent.js';
import { loadOpenAICompatible } from './load-peer.js';

/** Options of {@link openAICompatibleAgent}: the server, plus every {@link aiSdkAgent} option but `model`. */
export interface OpenAICompatibleAgentOptions extends Omit<AiSdkAgentOptions, 'model'> {
  /** Base URL of the chat-completions API, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  baseURL: string;
  /** Sent as `Authorization: Bearer <apiKey>`; read it from an environment variable. @default none */
  apiKey?: string;
  /** Provider name (shows in AI SDK errors and provider metadata). @default 'openai-compatible' */
  name?: string;
  /** Model used when the job's `model` string is empty. @default none (an empty name fails the run) */
  defaultModel?: string;
  /** Extra HTTP headers of every request. @default none */
  headers?: Record<string, string>;
  /** Asks the server for token usage in the stream (`stream_options.include_usage`). @default true */
  includeUsage?: boolean;
  /** A custom `fetch` (proxies, tests). @default globalThis.fetch */
  fetch?: OpenAICompatibleProviderSettings['fetch'];
}

const serverOptionsSchema = z.object({
  baseURL: z.url({ protocol: /^https?$/ }),
  apiKey: z.string().optional(),
  name: z.string().min(1).optional(),
  defaultModel: z.string().min(1).optional(),
  headers: z.record(z.string(), z.string()).optional(),
  includeUsage: z.boolean().optional(),
});

/**
 * An {@link aiSdkAgent} talking to any OpenAI-compatible chat-completions server (OpenAI, vLLM,
 * llama.cpp `llama-server`, Ollama, LM Studio…) through `@ai-sdk/openai-compatible` (an optional
 * peer dependency). The job's `model` string names the model on that server.
 *
 * @example
 * const agent = openAICompatibleAgent({ baseURL: 'http://127.0.0.1:11434/v1' }); // Ollama
 * const scheduler = createSpawnScheduler({ store, agent });
 * await scheduler.spawnChild(parentId, { title: 'Sum', prompt: 'Add 2 and 2', model: 'qwen3:4b' });
 */
export function openAICompatibleAgent(options: OpenAICompatibleAgentOptions): AgentRuntime {
  const parsed = serverOptionsSchema.safeParse(options);
  if (!parsed.success) throw new SproutValidationError('openAICompatibleAgent options', parsed.error.issues);
  const { baseURL, apiKey, name, defaultModel, headers, includeUsage, fetch, ...agentOptions } = options;

  let provider: Promise<OpenAICompatibleProvider> | undefined;
  const loadProvider = (): Promise<OpenAICompatibleProvider> =>
    (provider ??= loadOpenAICompatible().then(
      ({ createOpenAICompatible }) =>
        createOpenAICompatible({
          name: name ?? 'openai-compatible',
          baseURL,
          includeUsage: includeUsage ?? true,
          ...(apiKey === undefined ? {} : { apiKey }),
          ...(headers === undefined ? {} : { headers }),
          ...(fetch === undefined ? {} : { fetch }),
        }),
      (error: unknown) => {
        provider = undefined;
        throw error;
      },
    ));

  return aiSdkAgent({
    ...agentOptions,
    model: async (modelName) => {
      const id = modelName === '' ? defaultModel : modelName;
      if (id === undefined)
        throw new AgentProviderError('model provider failed: the job names no model and openAICompatibleAgent has no defaultModel');
      return (await loadProvider()).chatModel(id);
    },
  });
}
