/**
 * Sprout: run an agent framework's child sessions in the background on XState actors, with the
 * children's events, heartbeats and completions streamed to the parent as RxJS Observables.
 *
 * This file is the whole public API of the package root (plus `/testing`). Everything else under
 * `src/` and `machines/` is internal and may change in any release.
 *
 * @example
 * import { createSpawnScheduler, MemorySessionStore, scriptedAgent } from '@sprout-agents/sprout';
 * const scheduler = createSpawnScheduler({ store: new MemorySessionStore(), agent: scriptedAgent({ answer: 'done' }) });
 * await scheduler.start();
 *
 * @packageDocumentation
 */

// ── The scheduler ──────────────────────────────────────────────────────────────────────────────
export { createSpawnScheduler } from './create-spawn-scheduler.js';
export type { SpawnScheduler, SpawnSchedulerApi, RunInput } from './api/spawn-scheduler.js';
export type { SpawnSchedulerOptions } from './api/spawn-scheduler-options.js';
export type {
  SpawnJob,
  SpawnBrief,
  EnqueueResult,
  SpawnChildResult,
  StopOptions,
  StopMode,
  EventsOptions,
  WaitForChildrenOptions,
  WaitPolicy,
  ChildRunSummary,
  ChildStatus,
  RunStatus,
  RecoveryReport,
  SchedulerDiagnostic,
  OnParentEnd,
  EnqueueOptions,
  AncestorLink,
} from './api/scheduler-types.js';
export type { RunOwnership, RunToken, OpenRunResult, ReserveRunResult, RunOwnershipEnd } from './api/run-ownership.js';
export { InProcessRunOwnership } from './scheduler/in-process-run-ownership.js';
export { RunLedger } from './scheduler/run-ledger.js';
export type { RunLedgerOptions, RunRecord, RunEnd } from './scheduler/run-ledger.js';

// ── The pure machines, for inspection, visualisation and model-based tests ─────────────────────
export { spawnJobMachine } from '../machines/spawn-job.machine.js';
export { schedulerMachine } from '../machines/scheduler.machine.js';

// ── Wire format (Bamboo's JSON shapes) and its zod schemas ─────────────────────────────────────
export type {
  Session,
  Message,
  MessageRole,
  SessionKind,
  RunStatusMetadata,
  Usage,
  AgentEvent,
  AgentEventType,
  AgentEventOf,
  TokenEvent,
  ReasoningTokenEvent,
  ToolStartEvent,
  ToolCompleteEvent,
  ToolErrorEvent,
  CompleteEvent,
  ErrorEvent,
  SubSessionStartedEvent,
  SubSessionEvent,
  SubSessionHeartbeatEvent,
  SubSessionCompletedEvent,
  StreamTruncatedEvent,
  CompletionStatus,
  CompletionReason,
  SessionEventEnvelope,
} from './api/wire-types.js';
export {
  sessionSchema,
  messageSchema,
  agentEventSchema,
  sessionEventEnvelopeSchema,
  spawnJobSchema,
  spawnBriefSchema,
  METADATA_KEYS,
} from './api/schemas.js';
export { toolResultSchema, toToolResult, completeUsage } from '../machines/agent-event.events.js';
export type { ToolResult } from '../machines/agent-event.events.js';

// ── RxJS operators over session streams ────────────────────────────────────────────────────────
export { childProgress, reduceChildProgress, completionsOf, replayThenLive } from './streams/operators/index.js';
export type { ChildProgressRow, ChildProgressSnapshot, ChildProgressState, Sequenced } from './streams/operators/index.js';

// ── Ports and their adapters ───────────────────────────────────────────────────────────────────
export type {
  SessionStore,
  SessionStoreCapabilities,
  CompanionEventLogOptions,
  AgentRuntime,
  ExecuteRequest,
  Spawner,
  EventLog,
  EventLogCapabilities,
  EventLogReadResult,
  OpenRun,
  MaybePromise,
} from './api/ports.js';
export { MAX_SESSION_SUMMARY_PAGE } from './api/session-summary.js';
export type {
  SessionSummary,
  SessionSummaryFilter,
  SessionSummaryMessage,
  SessionSummaryOrder,
  SessionSummaryPage,
  SessionSummaryQuery,
} from './api/session-summary.js';
export { MemorySessionStore } from './adapters/memory/memory-session-store.js';
export { SqliteSessionStore } from './adapters/sqlite/sqlite-session-store.js';
export type { SqliteSessionStoreOptions, SqliteDatabase } from './adapters/sqlite/sqlite-session-store.js';
export { MemoryEventLog } from './adapters/memory/memory-event-log.js';
export type { MemoryEventLogOptions } from './adapters/memory/memory-event-log.js';
export { SqliteEventLog } from './adapters/sqlite/sqlite-event-log.js';
export type { SqliteEventLogOptions } from './adapters/sqlite/sqlite-event-log.js';

// ── Agents on a real model (Vercel AI SDK; `ai` and `@ai-sdk/openai-compatible` are optional peers)
export { aiSdkAgent, openAICompatibleAgent } from './agents/ai-sdk/public-agents.js';
export type {
  AiSdkAgentOptions,
  OpenAICompatibleAgentOptions,
  AiSdkModel,
  AiSdkLanguageModel,
  AiSdkTools,
  AiSdkCallSettings,
} from './api/ai-sdk-agents.js';
// Bamboo's `spawn_session` for AI SDK agents: a root agent on a real model spawns and awaits children.
export { spawnSessionTool, waitChildrenTool, sproutTools, MissingParentSessionError } from './agents/ai-sdk/sprout-tools.js';
export type {
  SproutToolOptions,
  SproutToolContext,
  SproutAiTool,
  SpawnSessionInput,
  WaitChildrenInput,
  WaitChildrenEntry,
} from './agents/ai-sdk/sprout-tools.js';

// ── Telemetry: runs followed on the public event streams, and OpenTelemetry spans of them ─────────
export { observeRuns } from './telemetry/observe-runs.js';
export type {
  ObservedRun,
  ObservedRunState,
  RunChange,
  RunObserver,
  ObserveRunsOptions,
  ObservableScheduler,
  RunStateSource,
  WatchOptions,
} from './telemetry/observe-runs.js';
export { traceRuns } from './telemetry/trace-runs.js';
export type { TraceRunsOptions, RunTracing } from './telemetry/trace-runs.js';
export { activeTraceparent, contextOfTraceparent } from './telemetry/traceparent.js';

// ── Clock ──────────────────────────────────────────────────────────────────────────────────────
export { systemClock } from './clock.js';
export type { SproutClock, Clock } from './clock.js';

// ── Errors (each with a stable string `code`) ──────────────────────────────────────────────────
export {
  SproutError,
  SproutValidationError,
  SchedulerStoppedError,
  SessionNotFoundError,
  SpawnDepthExceededError,
  InvalidSessionDataError,
  InvalidAgentEventError,
  SessionConflictError,
  StoreUnavailableError,
  UnknownChildError,
  SessionBusyError,
  EventLogError,
} from './errors.js';
export { AgentProviderError, AgentAbortedError, MissingPeerDependencyError } from './agents/ai-sdk/agent-errors.js';

// ── The scripted fake agent, also in the testing entry (README.md, "Public API") ─────────────────────────────
export { scriptedAgent } from './testing/scripted-agent.js';
export type { ScriptedAgent, ScriptedAgentOptions, ScriptStep } from './testing/scripted-agent.js';
