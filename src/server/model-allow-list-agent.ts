import type { AgentRuntime } from '../agents/agent-runtime.js';
import { SproutError } from '../errors.js';

/**
 * A run asked for a model outside the server's allow-list (`--models`, or `--model` alone with
 * `--provider`). The run ends in error before the agent calls any provider.
 *
 * @example
 * error.code; // 'MODEL_NOT_ALLOWED'
 */
export class ModelNotAllowedError extends SproutError {
  /** The model the run asked for. */
  readonly model: string;

  constructor(model: string, allowed: readonly string[]) {
    super('MODEL_NOT_ALLOWED', `model ${JSON.stringify(model)} is not allowed on this server (allowed: ${allowed.join(', ')})`);
    this.model = model;
  }
}

/**
 * Wraps an agent so that a run whose `model` is outside `allowed` fails with
 * {@link ModelNotAllowedError} instead of reaching the provider. The HTTP routes refuse such a
 * model up front (422); this is the backstop for every other way a run gets a model — an
 * agent's own `spawn_session` tool, a message's model, sessions saved before the allow-list.
 * An empty model (the provider's default) passes.
 *
 * @example
 * const agent = modelAllowListAgent(openAICompatibleAgent({ baseURL, defaultModel: 'gpt-4o-mini' }), ['gpt-4o-mini']);
 */
export function modelAllowListAgent(agent: AgentRuntime, allowed: readonly string[]): AgentRuntime {
  const names = new Set(allowed);
  return {
    execute(session, request) {
      if (request.model !== '' && !names.has(request.model)) return Promise.reject(new ModelNotAllowedError(request.model, [...names]));
      return agent.execute(session, request);
    },
  };
}
