import { randomUUID } from 'node:crypto';
import type { CallSettings, LanguageModel, LanguageModelUsage, TextStreamPart, ToolSet } from 'ai';
import type * as Ai from 'ai';
import { z } from 'zod';
import { toToolResult, type AgentEvent } from '../../../machines/agent-event.events.js';
import type { Session } from '../../../machines/session.schema.js';
import { systemClock, toRfc3339, type SproutClock } from '../../clock.js';
import { SproutValidationError } from '../../errors.js';
import type { AgentRuntime, ExecuteRequest } from '../agent-runtime.js';
import { AgentAbortedError, AgentProviderError, messageOf, MissingPeerDependencyError } from './agent-errors.js';
import { loadAi } from './load-peer.js';
import { readUntilAborted, untilAborted } from './read-until-aborted.js';
import { createStepRecorder, type StepRecorder } from './step-recorder.js';
import { toModelMessages } from './to-model-messages.js';
import { sproutTools, type SproutToolContext } from './sprout-tools.js';

/**
 * The model of an {@link aiSdkAgent}: a fixed AI SDK `LanguageModel` (the job's `model` string is
 * then ignored), or a function that picks one from the job's `model` string (may be async).
 */
export type AiSdkModel = LanguageModel | ((modelName: string) => LanguageModel | PromiseLike<LanguageModel>);

/** Options of {@link aiSdkAgent}. */
export interface AiSdkAgentOptions {
  /** A `LanguageModel`, or `(modelName) => LanguageModel` to use the job's `model` string. */
  model: AiSdkModel;
  /**
   * AI SDK tools (`tool({ description, inputSchema, execute })`). Merged over the scheduler's
   * `tools` option when that is an object of tools (these win on a name clash).
   * @default no tools
   */
  tools?: ToolSet;
  /** System prompt sent before the session's own messages. @default none */
  system?: string;
  /** Most model steps per run (a step = one model call, plus the tool calls it asks for). @default 8 */
  maxSteps?: number;
  /** AI SDK call settings (`temperature`, `maxOutputTokens`, `maxRetries`, `timeout`, `headers`…). @default AI SDK defaults (`maxRetries: 2`) */
  callSettings?: Omit<CallSettings, 'abortSignal'>;
  /** Provider-specific options, passed to `streamText` as is. @default none */
  providerOptions?: Parameters<typeof Ai.streamText>[0]['providerOptions'];
  /** Stamps `created_at` of the appended messages. @default systemClock */
  clock?: Pick<SproutClock, 'now'>;
  /** Ids of the appended messages. @default crypto.randomUUID */
  generateId?: () => string;
  /**
   * Give the model Bamboo's `spawn_session` and `wait_children` tools, wired to the scheduler
   * that runs the session (`request.spawner`), so any session can grow a tree of children.
   * Tools of the same name in `tools` or the scheduler's `tools` win. @default true
   */
  spawnTools?: boolean;
}

const DEFAULT_MAX_STEPS = 8;
const isObject = (value: unknown): value is object => typeof value === 'object' && value !== null;

const optionsSchema = z.object({
  model: z.custom<AiSdkModel>(
    (v) => typeof v === 'function' || typeof v === 'string' || isObject(v),
    'expected a LanguageModel or a function (modelName) => LanguageModel',
  ),
  tools: z.record(z.string(), z.custom<ToolSet[string]>(isObject, 'expected an AI SDK tool')).optional(),
  system: z.string().optional(),
  maxSteps: z.number().int().positive().optional(),
  callSettings: z.custom<CallSettings>(isObject, 'expected an object').optional(),
  providerOptions: z.custom<object>(isObject, 'expected an object').optional(),
  clock: z
    .custom<Pick<SproutClock, 'now'>>(
      (v) => isObject(v) && typeof (v as { now?: unknown }).now === 'function',
      'expected a clock with now()',
    )
    .optional(),
  generateId: z.custom<() => string>((v) => typeof v === 'function', 'expected a function').optional(),
  spawnTools: z.boolean().optional(),
});

/**
 * An {@link AgentRuntime} on the Vercel AI SDK (`ai@6`, an optional peer dependency loaded on the
 * first run). Each run calls `streamText` on the session's messages with the run's `AbortSignal`,
 * streams the model's output as Bamboo events, runs tool loops up to `maxSteps`, and appends the
 * assistant and tool messages of every finished step to `session.messages`.
 *
 * | AI SDK stream part | AgentEvent |
 * |---|---|
 * | `text-delta` | `token { content }` |
 * | `reasoning-delta` | `reasoning_token { content }` |
 * | `tool-call` | `tool_start { tool_call_id, tool_name, arguments }` |
 * | `tool-result` (final) | `tool_complete { tool_call_id, result: { success: true, result: <text or JSON> } }` (Bamboo's object) |
 * | `tool-error` | `tool_error { tool_call_id, error }` |
 * | `finish` | `complete { usage: { prompt_tokens, completion_tokens, total_tokens } }` |
 * | `error` | run rejects with {@link AgentProviderError} |
 * | `abort` / signal aborted | run rejects with {@link AgentAbortedError} (`name: 'AbortError'`) |
 *
 * @example
 * import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
 * const provider = createOpenAICompatible({ name: 'local', baseURL: 'http://127.0.0.1:8080/v1' });
 * const agent = aiSdkAgent({ model: (name) => provider.chatModel(name), system: 'Be brief.' });
 * const scheduler = createSpawnScheduler({ store, agent });
 */
export function aiSdkAgent(options: AiSdkAgentOptions): AgentRuntime {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) throw new SproutValidationError('aiSdkAgent options', parsed.error.issues);
  const clock = options.clock ?? systemClock;
  const generateId = options.generateId ?? randomUUID;
  const stamp = () => ({ id: generateId(), created_at: toRfc3339(clock.now()) });

  return {
    async execute(session: Session, request: ExecuteRequest): Promise<void> {
      const { signal } = request;
      let emitFailure: { error: unknown } | undefined;
      const emit = (event: AgentEvent): void => {
        try {
          request.emit(event);
        } catch (error) {
          emitFailure = { error };
          throw error;
        }
      };
      try {
        if (signal.aborted) throw new AgentAbortedError(signal.reason);
        const ai = await untilAborted(loadAi(), signal);
        const model = await untilAborted(resolveModel(options.model, request.model), signal);
        const spawnTools =
          options.spawnTools !== false && request.spawner !== undefined
            ? (sproutTools({ scheduler: request.spawner }) as unknown as ToolSet)
            : undefined;
        const tools = mergeTools(spawnTools, mergeTools(request.tools, options.tools));
        const result = ai.streamText({
          ...options.callSettings,
          model,
          ...(options.system === undefined ? {} : { system: options.system }),
          messages: toModelMessages(session.messages),
          allowSystemInMessages: true,
          ...(tools === undefined ? {} : { tools }),
          ...(options.providerOptions === undefined ? {} : { providerOptions: options.providerOptions }),
          stopWhen: ai.stepCountIs(options.maxSteps ?? DEFAULT_MAX_STEPS),
          abortSignal: signal,
          // Tools see which session runs them (spawnSessionTool spawns its children under it).
          experimental_context: { sessionId: session.id, rootSessionId: session.root_session_id } satisfies SproutToolContext,
          // Stream errors arrive as `error` parts and reject the run below; do not also log them.
          onError: () => undefined,
        });
        const step = createStepRecorder(session, stamp);
        let finished = false;
        for await (const part of readUntilAborted(result.fullStream, signal)) {
          finished = handlePart(part, step, emit) || finished;
        }
        if (signal.aborted) throw new AgentAbortedError(signal.reason);
        if (!finished) throw new AgentProviderError('model provider failed: the stream ended before the model finished');
      } catch (error) {
        if (emitFailure !== undefined && emitFailure.error === error) throw error;
        if (signal.aborted) throw error instanceof AgentAbortedError ? error : new AgentAbortedError(signal.reason);
        if (error instanceof MissingPeerDependencyError || error instanceof AgentAbortedError) throw error;
        throw AgentProviderError.from(error);
      }
    },
  };
}

/** Maps one stream part to events and session messages. Returns `true` on the run's `finish`. */
function handlePart(part: TextStreamPart<ToolSet>, step: StepRecorder, emit: (event: AgentEvent) => void): boolean {
  switch (part.type) {
    case 'text-delta':
      if (part.text === '') return false;
      step.text(part.text);
      emit({ type: 'token', content: part.text });
      return false;
    case 'reasoning-delta':
      if (part.text === '') return false;
      step.reasoning(part.text);
      emit({ type: 'reasoning_token', content: part.text });
      return false;
    case 'tool-call':
      step.toolCall(part.toolCallId, part.toolName, part.input);
      emit({ type: 'tool_start', tool_call_id: part.toolCallId, tool_name: part.toolName, arguments: part.input });
      return false;
    case 'tool-result':
      if (part.preliminary === true) return false;
      step.toolResult(part.toolCallId, part.toolName, part.output);
      emit({ type: 'tool_complete', tool_call_id: part.toolCallId, result: toToolResult(part.output) });
      return false;
    case 'tool-error': {
      const error = messageOf(part.error);
      step.toolError(part.toolCallId, part.toolName, error);
      emit({ type: 'tool_error', tool_call_id: part.toolCallId, error });
      return false;
    }
    case 'finish-step':
      step.flush();
      return false;
    case 'finish':
      step.flush();
      emit({ type: 'complete', usage: toUsage(part.totalUsage) });
      return true;
    case 'error':
      throw AgentProviderError.from(part.error);
    case 'abort':
      throw new AgentAbortedError(part.reason);
    default:
      return false;
  }
}

/**
 * AI SDK usage → Bamboo usage, with all three counters Bamboo requires: a counter the provider
 * did not report is 0, and the total is the sum when not reported.
 *
 * @example
 * toUsage({ inputTokens: 3, outputTokens: 5, totalTokens: undefined }); // { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 }
 */
export function toUsage(usage: LanguageModelUsage): { prompt_tokens: number; completion_tokens: number; total_tokens: number } {
  const prompt = usage.inputTokens ?? 0;
  const completion = usage.outputTokens ?? 0;
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: usage.totalTokens ?? prompt + completion };
}

async function resolveModel(model: AiSdkModel, modelName: string): Promise<LanguageModel> {
  return typeof model === 'function' ? await model(modelName) : model;
}

/** The tools of `fromRequest` (when it is an object of tools) with `own` over them. */
function mergeTools(fromRequest: unknown, own: ToolSet | undefined): ToolSet | undefined {
  const shared = isObject(fromRequest) && !Array.isArray(fromRequest) ? (fromRequest as ToolSet) : undefined;
  if (shared === undefined) return own;
  return own === undefined ? shared : { ...shared, ...own };
}
