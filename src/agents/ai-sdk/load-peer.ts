import type * as Ai from 'ai';
import type * as OpenAICompatible from '@ai-sdk/openai-compatible';
import { MissingPeerDependencyError } from './agent-errors.js';

// The AI SDK packages are optional peer dependencies: they are loaded on the first run of an
// AI SDK agent, never when `sprout` itself is imported.

let ai: Promise<typeof Ai> | undefined;
let openAICompatible: Promise<typeof OpenAICompatible> | undefined;

/**
 * Loads `ai` once (rejects with {@link MissingPeerDependencyError} when it is not installed).
 *
 * @example
 * const { streamText } = await loadAi();
 */
export function loadAi(): Promise<typeof Ai> {
  ai ??= import('ai').catch((error: unknown) => {
    ai = undefined;
    throw new MissingPeerDependencyError('ai', '^6', error);
  });
  return ai;
}

/**
 * Loads `@ai-sdk/openai-compatible` once (rejects with {@link MissingPeerDependencyError} when it
 * is not installed).
 *
 * @example
 * const { createOpenAICompatible } = await loadOpenAICompatible();
 */
export function loadOpenAICompatible(): Promise<typeof OpenAICompatible> {
  openAICompatible ??= import('@ai-sdk/openai-compatible').catch((error: unknown) => {
    openAICompatible = undefined;
    throw new MissingPeerDependencyError('@ai-sdk/openai-compatible', '^2', error);
  });
  return openAICompatible;
}
