// The public types are written out as documented interfaces (src/api/, the scheduler options) so
// that an editor shows what every field means. This file pins them to the zod schemas and the
// internal types they stand for: `tsc` (npm run typecheck) fails here when one of the two changes
// without the other. Each `same<A, B>()` call compiles only when A and B accept the same values
// and name the same fields.
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type * as Wire from '../../machines/agent-event.events.js';
import type * as SessionSchemas from '../../machines/session.schema.js';
import type * as JobSchemas from '../../machines/spawn-job.events.js';
import type * as AiSdk from '../../src/agents/ai-sdk/ai-sdk-agent.js';
import type * as OpenAICompatible from '../../src/agents/ai-sdk/openai-compatible-agent.js';
import type * as AgentPort from '../../src/agents/agent-runtime.js';
import type * as Public from '../../src/index.js';
import type * as ChildStatusInternal from '../../src/scheduler/child-status.js';
import type { schedulerOptionsSchema } from '../../src/scheduler/scheduler-options.js';
import type * as RunLedger from '../../src/scheduler/run-ledger.js';
import type * as SchedulerArgs from '../../src/core/scheduler-args.js';
import type * as WaitInternal from '../../src/scheduler/wait-for-children.js';
import type * as EventLogPort from '../../src/streams/event-log.js';
import type * as StorePort from '../../src/api/ports.js';

/** The declared (non-index-signature) keys of T. */
type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: T[K] };
type Assignable<A, B> = [A] extends [B] ? true : false;
type Equivalent<A, B> = Assignable<A, B> extends true ? Assignable<B, A> : false;
type Same<A, B> = Equivalent<A, B> extends true ? Equivalent<KnownKeys<A>, KnownKeys<B>> : false;

/** Compiles only when `A` and `B` accept the same values and declare the same fields. */
const same = <A, B>(..._proof: Same<A, B> extends true ? [] : [mismatch: { public: A; internal: B }]): true => true;
/** Compiles only when every `A` is a `B` and both declare the same fields. */
const accepts = <A, B>(
  ..._proof: Assignable<A, B> extends true
    ? Equivalent<KnownKeys<A>, KnownKeys<B>> extends true
      ? []
      : [fieldsDiffer: { a: KnownKeys<A>; b: KnownKeys<B> }]
    : [notAssignable: { a: A; b: B }]
): true => true;

type InternalEvent = Wire.AgentEvent;
/** Per event tag: the public interface against the schema-inferred member. */
type EventChecks = { [T in Public.AgentEventType]: Same<Public.AgentEventOf<T>, Extract<InternalEvent, { type: T }>> };

describe('public types', () => {
  it('match the wire schemas (sessions, messages, events)', () => {
    expect([
      same<Public.Session, SessionSchemas.Session>(),
      same<Public.Message, SessionSchemas.Message>(),
      same<Public.MessageRole, SessionSchemas.MessageRole>(),
      same<Public.SessionKind, SessionSchemas.SessionKind>(),
      same<Public.RunStatusMetadata, SessionSchemas.RunStatusMetadata>(),
      same<Public.Usage, Wire.Usage>(),
      same<Public.CompletionStatus, Wire.CompletionStatus>(),
      same<Public.CompletionReason, Wire.CompletionReason>(),
      same<Public.AgentEventType, InternalEvent['type']>(),
      same<EventChecks[Public.AgentEventType], true>(),
      same<Public.AgentEvent, InternalEvent>(),
      same<Public.SessionEventEnvelope, Wire.SessionEventEnvelope>(),
      same<Public.SessionEventEnvelope, z.infer<typeof Wire.sessionEventEnvelopeSchema>>(),
    ]).not.toContain(false);
  });

  it('match the scheduler schemas and results', () => {
    expect([
      same<Public.SpawnJob, JobSchemas.SpawnJob>(),
      same<Public.SpawnBrief, JobSchemas.SpawnBrief>(),
      same<Public.SpawnBrief, z.input<typeof JobSchemas.spawnBriefSchema>>(),
      // ChildRunSummary and ChildStatus are defined once, in src/api/; the scheduler builds them.
      same<Public.ChildRunSummary, ReturnType<typeof WaitInternal.summarize>>(),
      same<Public.ChildStatus, ReturnType<typeof ChildStatusInternal.childStatusFromRecord>>(),
      same<Public.RunStatus, RunLedger.RunStatus>(),
      same<Public.WaitPolicy, NonNullable<NonNullable<z.input<typeof SchedulerArgs.waitArgsSchema>['options']>['policy']>>(),
      // Every option the schema takes is declared, and every declared option passes the schema's types.
      accepts<Public.SpawnSchedulerOptions, z.input<typeof schedulerOptionsSchema>>(),
    ]).not.toContain(false);
  });

  it('match the ports Sprout calls', () => {
    expect([
      same<Public.SessionStore, StorePort.SessionStore>(),
      same<Public.AgentRuntime, AgentPort.AgentRuntime>(),
      same<Public.ExecuteRequest, AgentPort.ExecuteRequest>(),
      same<Public.EventLog, EventLogPort.EventLog>(),
      same<Public.EventLogReadResult, EventLogPort.EventLogReadResult>(),
      same<Public.OpenRun, EventLogPort.OpenRun>(),
    ]).not.toContain(false);
  });

  it('accept whatever the AI SDK types accept, without importing `ai`', () => {
    expect([
      accepts<AiSdk.AiSdkAgentOptions, Public.AiSdkAgentOptions>(),
      accepts<OpenAICompatible.OpenAICompatibleAgentOptions, Public.OpenAICompatibleAgentOptions>(),
    ]).not.toContain(false);
  });
});
