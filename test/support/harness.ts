import type { SessionEventEnvelope, AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { createSpawnScheduler, type SpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { SpawnSchedulerOptions } from '../../src/api/spawn-scheduler-options.js';
import type { SchedulerDiagnostic } from '../../src/api/scheduler-diagnostic.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import type { AgentRuntime, SessionStore } from '../../src/api/ports.js';
import { scriptedAgent, type ScriptedAgent, type ScriptedAgentOptions } from '../../src/testing/scripted-agent.js';
import { advance, createTestClock, flushMicrotasks, runUntil, type TestClock } from '../../src/testing/simulated-clock.js';

/** A root session as a Bamboo UI would create it. */
export function rootSession(id = 'root', overrides: Partial<Session> = {}): Session {
  return {
    id,
    title: `Root ${id}`,
    kind: 'root',
    root_session_id: id,
    spawn_depth: 0,
    model: 'test-model',
    messages: [{ id: `${id}-u1`, role: 'user', content: 'Plan the work', created_at: '2026-01-01T00:00:00.000Z' }],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** A child session with a pending user message (no run metadata yet: recovery leaves it alone). */
export function childSession(id: string, parentId = 'root', overrides: Partial<Session> = {}): Session {
  return {
    id,
    title: `Child ${id}`,
    kind: 'child',
    parent_session_id: parentId,
    root_session_id: parentId,
    spawn_depth: 1,
    model: 'test-model',
    messages: [
      { id: `${id}-s`, role: 'system', content: 'You are a sub-agent', created_at: '2026-01-01T00:00:00.000Z' },
      { id: `${id}-u`, role: 'user', content: `Do ${id}`, created_at: '2026-01-01T00:00:00.000Z' },
    ],
    metadata: {},
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/** Everything one scheduler test needs. */
export interface Harness {
  clock: TestClock;
  store: SessionStore;
  /** The scripted agent (a custom `AgentRuntime` given in the options is returned as is). */
  agent: ScriptedAgent;
  scheduler: SpawnScheduler;
  /** Every envelope of the root stream, from seq 1. */
  rootEvents: SessionEventEnvelope[];
  diagnostics: SchedulerDiagnostic[];
  /** Events of `sessionId` seen so far (subscribes on first call, replaying from seq 0). */
  eventsOf(sessionId: string): SessionEventEnvelope[];
  /** Flushes promise chains (no time passes). */
  settle(): Promise<void>;
  advance(ms: number): Promise<void>;
  until(predicate: () => boolean, description?: string): Promise<void>;
  /** Completions on the root stream. */
  completions(sessionId?: string): Extract<AgentEvent, { type: 'sub_session_completed' }>[];
}

/** Builds and starts a scheduler on a simulated clock with a scripted agent and a memory store. */
export async function createHarness(
  options: {
    agent?: ScriptedAgentOptions | ScriptedAgent | AgentRuntime;
    scheduler?: Partial<SpawnSchedulerOptions>;
    store?: SessionStore;
    seed?: Session[];
    start?: boolean;
  } = {},
): Promise<Harness> {
  const clock = createTestClock();
  const store = options.store ?? new MemorySessionStore();
  for (const session of options.seed ?? [rootSession()]) await store.save(structuredClone(session));
  const agent = (
    options.agent && 'execute' in options.agent ? options.agent : scriptedAgent({ clock, ...(options.agent ?? {}) })
  ) as ScriptedAgent;
  const diagnostics: SchedulerDiagnostic[] = [];
  let ids = 0;
  const scheduler = createSpawnScheduler({
    store,
    agent,
    clock,
    createId: () => `id-${++ids}`,
    onDiagnostic: (diagnostic) => diagnostics.push(diagnostic),
    ...options.scheduler,
  });
  const streams = new Map<string, SessionEventEnvelope[]>();
  const eventsOf = (sessionId: string): SessionEventEnvelope[] => {
    let list = streams.get(sessionId);
    if (!list) {
      const collected: SessionEventEnvelope[] = [];
      list = collected;
      streams.set(sessionId, collected);
      scheduler.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => collected.push(envelope));
    }
    return list;
  };
  const rootEvents = eventsOf('root');
  if (options.start !== false) await scheduler.start();
  return {
    clock,
    store,
    agent,
    scheduler,
    rootEvents,
    diagnostics,
    eventsOf,
    settle: () => flushMicrotasks(),
    advance: (ms) => advance(clock, ms),
    until: async (predicate, description) => {
      await runUntil(predicate, { clock, maxMs: 600_000, stepMs: 1000, ...(description === undefined ? {} : { description }) });
    },
    completions: (sessionId = 'root') =>
      eventsOf(sessionId)
        .map((envelope) => envelope.event)
        .filter((event): event is Extract<AgentEvent, { type: 'sub_session_completed' }> => event.type === 'sub_session_completed'),
  };
}

/** The wire `type`s of a stream, in order, for one child. */
export function typesFor(envelopes: readonly SessionEventEnvelope[], childSessionId: string): string[] {
  return envelopes
    .filter((envelope) => 'child_session_id' in envelope.event && envelope.event.child_session_id === childSessionId)
    .map((envelope) => envelope.event.type);
}
