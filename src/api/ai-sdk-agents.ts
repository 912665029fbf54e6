/**
 * The public options of the AI SDK agents (`aiSdkAgent`, `openAICompatibleAgent`, made in
 * `src/agents/ai-sdk/public-agents.ts`). `ai` and `@ai-sdk/openai-compatible` are optional peer
 * dependencies, so the types here describe their models and tools structurally: the package's
 * `.d.ts` never imports `ai`, and an app that does not install it still typechecks with
 * `skipLibCheck: false`. Anything the AI SDK's own types accept is accepted here
 * (`test/package/public-types.types.test.ts` checks that at type level).
 */

/**
 * An AI SDK language model: a provider's model object (`provider.chatModel('gpt-4o')`, any
 * `LanguageModelV2` / `LanguageModelV3`), or a model id string for the AI SDK's global provider.
 *
 * @example
 * const model: AiSdkLanguageModel = createOpenAICompatible({ name: 'local', baseURL }).chatModel('llama3.1');
 */
export type AiSdkLanguageModel =
  | string
  | {
      /** The AI SDK model interface version (`v2`, `v3`). */
      readonly specificationVersion: string;
      /** The provider's name. */
      readonly provider: string;
      /** The model's id at the provider. */
      readonly modelId: string;
    };

/**
 * The model of an `aiSdkAgent`: a fixed model (the job's `model` string is then ignored),
 * or a function that picks one from the job's `model` string (may be async).
 *
 * @example
 * const model: AiSdkModel = (name) => provider.chatModel(name);
 */
export type AiSdkModel = AiSdkLanguageModel | ((modelName: string) => AiSdkLanguageModel | PromiseLike<AiSdkLanguageModel>);

/**
 * AI SDK tools by name, as made by the AI SDK's `tool({ description, inputSchema, execute })`.
 *
 * @example
 * const tools: AiSdkTools = { add: tool({ description: 'Adds', inputSchema: z.object({ a: z.number(), b: z.number() }), execute: ({ a, b }) => a + b }) };
 */
export type AiSdkTools = Readonly<Record<string, object>>;

/**
 * AI SDK call settings of every model call (the AI SDK's `CallSettings` without `abortSignal`:
 * the run's own signal is used).
 *
 * @example
 * const callSettings: AiSdkCallSettings = { temperature: 0, maxOutputTokens: 1024, maxRetries: 1 };
 */
export interface AiSdkCallSettings {
  /** Most tokens to generate. */
  maxOutputTokens?: number;
  /** Sampling temperature (range depends on the provider). */
  temperature?: number;
  /** Nucleus sampling. */
  topP?: number;
  /** Top-K sampling. */
  topK?: number;
  /** Presence penalty. */
  presencePenalty?: number;
  /** Frequency penalty. */
  frequencyPenalty?: number;
  /** Sequences that stop generation. */
  stopSequences?: string[];
  /** Seed for deterministic sampling (if the provider supports it). */
  seed?: number;
  /** Retries of a failed call. @default 2 */
  maxRetries?: number;
  /** Time limit of a call in milliseconds, or per total / step / chunk. */
  timeout?: number | { totalMs?: number; stepMs?: number; chunkMs?: number };
  /** Extra HTTP headers. */
  headers?: Record<string, string | undefined>;
}

/**
 * Options of `aiSdkAgent`.
 *
 * @example
 * const options: AiSdkAgentOptions = { model: (name) => provider.chatModel(name), system: 'Be brief.', maxSteps: 4 };
 */
export interface AiSdkAgentOptions {
  /** The model: a `LanguageModel`, or `(modelName) => LanguageModel` to use the job's `model` string. */
  model: AiSdkModel;
  /**
   * AI SDK tools. Merged over the scheduler's `tools` option when that is an object of tools
   * (these win on a name clash). @default no tools
   */
  tools?: AiSdkTools | undefined;
  /** System prompt sent before the session's own messages. @default none */
  system?: string | undefined;
  /** Most model steps per run (a step = one model call, plus the tool calls it asks for). @default 8 */
  maxSteps?: number | undefined;
  /** AI SDK call settings (`temperature`, `maxOutputTokens`, `maxRetries`, `timeout`, `headers`…). @default AI SDK defaults (`maxRetries: 2`) */
  callSettings?: AiSdkCallSettings | undefined;
  /** Provider-specific options, passed to `streamText` as is (`{ [provider]: { … } }`). @default none */
  providerOptions?: Record<string, Record<string, unknown>> | undefined;
  /** Stamps `created_at` of the appended messages. @default the system clock */
  clock?: { now(): number } | undefined;
  /** Ids of the appended messages. @default crypto.randomUUID */
  generateId?: (() => string) | undefined;
  /**
   * Give the model Bamboo's `spawn_session` and `wait_children` tools, wired to the scheduler
   * that runs the session (`request.spawner`). Tools of the same name in `tools` win. @default true
   */
  spawnTools?: boolean | undefined;
}

/**
 * Options of `openAICompatibleAgent`: the server, plus every `aiSdkAgent` option but `model`.
 *
 * @example
 * const options: OpenAICompatibleAgentOptions = { baseURL: 'https://api.openai.com/v1', apiKey: process.env.OPENAI_API_KEY };
 */
export interface OpenAICompatibleAgentOptions extends Omit<AiSdkAgentOptions, 'model'> {
  /** Base URL of the chat-completions API, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:8080/v1`. */
  baseURL: string;
  /**
   * Sent as `Authorization: Bearer <apiKey>`; read it from an environment variable (an unset
   * variable sends no header). @default none
   */
  apiKey?: string | undefined;
  /** Provider name (shows in AI SDK errors and provider metadata). @default 'openai-compatible' */
  name?: string | undefined;
  /** Model used when the job's `model` string is empty. @default none (an empty name fails the run) */
  defaultModel?: string | undefined;
  /** Extra HTTP headers of every request. @default none */
  headers?: Record<string, string> | undefined;
  /** Asks the server for token usage in the stream (`stream_options.include_usage`). @default true */
  includeUsage?: boolean | undefined;
  /** A custom `fetch` (proxies, tests). @default globalThis.fetch */
  fetch?: typeof globalThis.fetch | undefined;
}
