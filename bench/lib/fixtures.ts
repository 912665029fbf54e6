/**
 * Sessions and agents shared by the benchmark scenarios and their baselines. The agents are
 * plain inline `AgentRuntime` objects (no timers, no scripted-agent machinery), so a benchmark
 * measures Sprout, not the fake agent.
 */
import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import type { SessionStore } from '../../src/api/ports.js';

const EPOCH = '2026-01-01T00:00:00.000Z';

/** The parent of every child in a scenario. */
export const ROOT_ID = 'root';

/** A root session. */
export function rootSession(id = ROOT_ID): Session {
  return {
    id,
    title: `Root ${id}`,
    kind: 'root',
    root_session_id: id,
    spawn_depth: 0,
    model: 'bench-model',
    messages: [{ id: `${id}-u`, role: 'user', content: 'Plan the work', created_at: EPOCH }],
    metadata: {},
    created_at: EPOCH,
    updated_at: EPOCH,
  };
}

/**
 * A child session with a system and a pending user message. No run metadata: a `pending` status
 * would make `start()`'s crash recovery end it as interrupted before the benchmark enqueues it.
 */
export function childSession(id: string, parentId = ROOT_ID): Session {
  return {
    id,
    title: `Child ${id}`,
    kind: 'child',
    parent_session_id: parentId,
    root_session_id: parentId,
    spawn_depth: 1,
    model: 'bench-model',
    messages: [
      { id: `${id}-s`, role: 'system', content: 'You are a sub-agent working for a parent agent session.', created_at: EPOCH },
      { id: `${id}-u`, role: 'user', content: `Research topic ${id} and answer in one line.`, created_at: EPOCH },
    ],
    metadata: {},
    created_at: EPOCH,
    updated_at: EPOCH,
  };
}

/** The id of the `i`th child of a scenario. */
export const childId = (i: number): string => `child-${i}`;

/** The spawn job of the `i`th child. */
export function jobOf(i: number, parentId = ROOT_ID): SpawnJob {
  return { parentSessionId: parentId, childSessionId: childId(i), model: 'bench-model' };
}

/** Saves the root and `count` children (ids `child-0` …), sequentially. */
export async function seedStore(store: SessionStore, count: number, parentId = ROOT_ID): Promise<void> {
  await store.save(rootSession(parentId));
  for (let i = 0; i < count; i++) await store.save(childSession(childId(i), parentId));
}

/**
 * An agent that emits `tokens` token events, appends its answer and resolves at once (no timer):
 * the cheapest agent that still exercises forwarding and the final answer.
 */
export function tokenAgent(tokens = 10, onStart?: (session: Session) => void): AgentRuntime {
  return {
    execute(session, { emit }) {
      onStart?.(session);
      for (let i = 0; i < tokens; i++) emit({ type: 'token', content: `tok${i} ` });
      session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'The answer is 42.', created_at: EPOCH });
      return Promise.resolve();
    },
  };
}

/** An agent that emits `count` token events in one synchronous loop and reports how long it took. */
export function floodAgent(count: number, onDone: (ms: number) => void): AgentRuntime {
  return {
    execute(session, { emit }) {
      const start = performance.now();
      for (let i = 0; i < count; i++) emit({ type: 'token', content: 'tok ' } satisfies AgentEvent);
      onDone(performance.now() - start);
      session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'done', created_at: EPOCH });
      return Promise.resolve();
    },
  };
}

/**
 * An agent that stays running until {@link HeldAgent.releaseAll} (or the run's abort signal):
 * used to hold many children in `running` at once.
 */
export interface HeldAgent extends AgentRuntime {
  /** How many runs have started. */
  readonly started: number;
  /** Lets every held run finish with an answer. */
  releaseAll(): void;
}

/** Creates a {@link HeldAgent}. */
export function heldAgent(): HeldAgent {
  const waiting: (() => void)[] = [];
  let started = 0;
  return {
    get started() {
      return started;
    },
    execute(session, { signal }) {
      started += 1;
      return new Promise<void>((resolve, reject) => {
        const done = () => {
          session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'released', created_at: EPOCH });
          resolve();
        };
        waiting.push(done);
        signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true });
      });
    },
    releaseAll() {
      for (const done of waiting.splice(0)) done();
    },
  };
}

/** Resolves after one macrotask turn (lets promise chains and I/O callbacks run). */
export const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Yields macrotask turns until `predicate()` holds; throws after `maxTurns`. */
export async function turnUntil(predicate: () => boolean, what: string, maxTurns = 1_000_000): Promise<void> {
  for (let turns = 0; !predicate(); turns++) {
    if (turns >= maxTurns) throw new Error(`bench: ${what} did not happen within ${maxTurns} turns`);
    await nextTurn();
  }
}
