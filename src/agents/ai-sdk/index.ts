// The AI SDK adapters of the AgentRuntime port. `ai` and `@ai-sdk/openai-compatible` are optional
// peer dependencies, loaded on an agent's first run: importing this module does not load them.
export { aiSdkAgent, toUsage } from './ai-sdk-agent.js';
export type { AiSdkAgentOptions, AiSdkModel } from './ai-sdk-agent.js';
export { openAICompatibleAgent } from './openai-compatible-agent.js';
export type { OpenAICompatibleAgentOptions } from './openai-compatible-agent.js';
export { AgentAbortedError, AgentProviderError, MissingPeerDependencyError } from './agent-errors.js';
export { toModelMessages } from './to-model-messages.js';
export type { StoredToolCall } from './to-model-messages.js';
export { spawnSessionTool, waitChildrenTool, sproutTools, MissingParentSessionError } from './sprout-tools.js';
export type {
  SproutToolOptions,
  SproutToolContext,
  SproutAiTool,
  SpawnSessionInput,
  WaitChildrenInput,
  WaitChildrenEntry,
} from './sprout-tools.js';
