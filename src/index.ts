/**
 * Sprout: run an agent framework's child sessions in the background on XState actors, with the
 * children's events, heartbeats and completions streamed to the parent as RxJS Observables.
 *
 * @example
 * import { createSpawnScheduler, MemorySessionStore } from 'sprout';
 * const scheduler = createSpawnScheduler({ store: new MemorySessionStore(), agent });
 * await scheduler.start();
 */

// Scheduler
export { createSpawnScheduler } from './scheduler/create-spawn-scheduler.js';
export type { SpawnScheduler, EnqueueResult, WaitForChildrenOptions } from './scheduler/create-spawn-scheduler.js';
export { schedulerOptionsSchema } from './scheduler/scheduler-options.js';
export type { SpawnSchedulerOptions } from './scheduler/scheduler-options.js';
export type { ChildStatus } from './scheduler/child-status.js';
export type { ChildRunSummary, WaitPolicy } from './scheduler/wait-for-children.js';
export type { RunStatus, RunRecord } from './scheduler/run-registry.js';
export type { SchedulerDiagnostic } from './scheduler/diagnostics.js';
export type { RecoveryReport } from './scheduler/recover-interrupted-runs.js';
export { INTERRUPTED_ERROR } from './scheduler/recover-interrupted-runs.js';

// Machines (pure definitions) and their schemas
export { spawnJobMachine, finalAnswerOf, MAX_RESULT_CHARS } from '../machines/spawn-job.machine.js';
export { schedulerMachine } from '../machines/scheduler.machine.js';
export { schedulerLimitsSchema } from '../machines/scheduler.events.js';
export type { SchedulerLimits, SchedulerContext, SchedulerEvent, StopMode } from '../machines/scheduler.events.js';
export { spawnJobSchema, spawnBriefSchema, jobErrorText } from '../machines/spawn-job.events.js';
export type { SpawnJob, SpawnBrief, SpawnJobInput, SpawnJobOutput, JobOutcome, JobEndStatus, JobErrorCode } from '../machines/spawn-job.events.js';
export { sessionSchema, messageSchema, messageRoleSchema, sessionKindSchema, runStatusMetadataSchema, METADATA_KEYS } from '../machines/session.schema.js';
export type { Session, Message, MessageRole, SessionKind, RunStatusMetadata } from '../machines/session.schema.js';
export {
  agentEventSchema,
  sessionEventEnvelopeSchema,
  completionStatusSchema,
  completionReasonSchema,
  usageSchema,
  subSessionStartedEventSchema,
  subSessionEventSchema,
  subSessionHeartbeatEventSchema,
  subSessionCompletedEventSchema,
  streamTruncatedEventSchema,
} from '../machines/agent-event.events.js';
export type {
  AgentEvent,
  AgentEventType,
  AgentEventOf,
  SessionEventEnvelope,
  SubSessionEvent,
  SubSessionStartedEvent,
  SubSessionHeartbeatEvent,
  SubSessionCompletedEvent,
  CompletionStatus,
  CompletionReason,
  Usage,
} from '../machines/agent-event.events.js';

// Ports and adapters
export type { SessionStore } from './stores/session-store.js';
export { MemorySessionStore } from './stores/memory-session-store.js';
export { SqliteSessionStore } from './stores/sqlite-session-store.js';
export type { AgentRuntime, ExecuteRequest } from './agents/agent-runtime.js';
export type { EventLog, EventLogReadResult } from './streams/event-log.js';
export { MemoryEventLog } from './streams/memory-event-log.js';
export { SqliteEventLog } from './streams/sqlite-event-log.js';
export { SessionEventHub } from './streams/session-event-hub.js';
export { GuardedObservable } from './streams/guarded-observable.js';

// Clock and errors
export { systemClock, toRfc3339 } from './clock.js';
export type { SproutClock, Clock } from './clock.js';
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
} from './errors.js';

// Testing helpers are also re-exported here (DESIGN §2).
export { scriptedAgent } from './testing/scripted-agent.js';
export type { ScriptedAgent, ScriptedAgentOptions, ScriptStep } from './testing/scripted-agent.js';
