import { initialTransition, transition, type AnyEventObject, type SnapshotFrom } from 'xstate';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { Message, Session } from '../../machines/session.schema.js';
import type { JobLimits, SpawnJobInput } from '../../machines/spawn-job.events.js';
import { spawnJobMachine, type SpawnJobMachine } from '../../machines/spawn-job.machine.js';

/**
 * Helpers to step the spawn-job machine with the pure `initialTransition` / `transition`.
 * The machine invokes no actors: each state starts its I/O with an entry action (`loadChild`,
 * `reserveRun`, `saveSkipped`, `saveRunning`, `runAgent`, `saveFinal`) and the runtime answers
 * with an event (`job.loaded`, `job.saved`, …); here those answers are fed in by hand, and delays
 * as `xstate.after.*` events.
 */

export const PARENT = 'parent-1';
export const CHILD = 'child-1';
export const RUN = 'run-1';
export const job = { parentSessionId: PARENT, childSessionId: CHILD, model: 'model-x' } as const;

export function jobInput(limits: Partial<JobLimits> = {}, cancelRequest?: { reason: CompletionReason }): SpawnJobInput {
  return { job: { ...job }, runId: RUN, limits: { heartbeatIntervalMs: 5000, ...limits }, cancelRequest };
}

export function message(role: Message['role'], content: string, id = `m-${role}-${content.length}`): Message {
  return { id, role, content, created_at: '2026-01-01T00:00:00.000Z' };
}

/** A valid child session of {@link PARENT} with a pending user message. */
export function childSession(overrides: Partial<Session> = {}): Session {
  return {
    id: CHILD,
    title: 'child',
    kind: 'child',
    parent_session_id: PARENT,
    root_session_id: PARENT,
    spawn_depth: 1,
    model: 'model-x',
    messages: [message('system', 'you are a child'), message('user', 'do the thing')],
    metadata: { last_run_status: 'pending' },
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export type JobSnapshot = SnapshotFrom<SpawnJobMachine>;

/** One action as returned by `transition()`: only the fields the tests read. */
export interface SeenAction {
  type: string;
  params?: unknown;
}

export interface JobStep {
  snapshot: JobSnapshot;
  actions: SeenAction[];
}

export function start(input: SpawnJobInput = jobInput(), machine: SpawnJobMachine = spawnJobMachine): JobStep {
  const [snapshot, actions] = initialTransition(machine, input);
  return { snapshot, actions };
}

export function send(snapshot: JobSnapshot, event: AnyEventObject, machine: SpawnJobMachine = spawnJobMachine): JobStep {
  const [next, actions] = transition(machine, snapshot, event as never);
  return { snapshot: next, actions };
}

/** Sends events in order; returns the last step and every action seen on the way. */
export function sendAll(
  snapshot: JobSnapshot,
  events: readonly AnyEventObject[],
  machine: SpawnJobMachine = spawnJobMachine,
): JobStep & { allActions: SeenAction[] } {
  let current: JobStep = { snapshot, actions: [] };
  const allActions: SeenAction[] = [];
  for (const event of events) {
    current = send(current.snapshot, event, machine);
    allActions.push(...current.actions);
  }
  return { ...current, allActions };
}

export const types = (actions: readonly SeenAction[]): string[] => actions.map((action) => action.type);

/** The I/O each state starts, by the id the invoked actors used to have, and the runtime action that starts it. */
const IO_ACTIONS: Record<string, { id: string; src: string }> = {
  loadChild: { id: 'loadChild', src: 'loadChild' },
  reserveRun: { id: 'reserveRun', src: 'reserveRun' },
  saveSkipped: { id: 'saveSkipped', src: 'saveSession' },
  saveRunning: { id: 'saveRunning', src: 'saveSession' },
  saveFinal: { id: 'saveFinal', src: 'saveSession' },
  runAgent: { id: 'agent', src: 'runAgent' },
};

/** The I/O started by these actions (entry actions with their params), keyed by `loadChild`, `saveFinal`, `agent`, …. */
export function spawned(actions: readonly SeenAction[]): Map<string, { src: unknown; input: unknown }> {
  const result = new Map<string, { src: unknown; input: unknown }>();
  for (const action of actions) {
    const io = IO_ACTIONS[action.type];
    if (io) result.set(io.id, { src: io.src, input: action.params });
  }
  return result;
}

/** `{ event, delay }` of every delayed `xstate.raise` action. */
export function delayed(actions: readonly SeenAction[]): { type: string; delay: number }[] {
  return actions
    .filter((action) => action.type === 'xstate.raise')
    .map((action) => action.params as { event: { type: string }; delay?: number })
    .filter((params) => params.delay !== undefined)
    .map((params) => ({ type: params.event.type, delay: params.delay ?? 0 }));
}

/** Ids of every `xstate.cancel` action (cancelled delayed events). */
export function cancelled(actions: readonly SeenAction[]): string[] {
  return actions.filter((action) => action.type === 'xstate.cancel').map((action) => (action.params as { sendId: string }).sendId);
}

export const count = (actions: readonly SeenAction[], type: string): number => types(actions).filter((t) => t === type).length;

/** The exact event types XState v5 uses for the machine's `after` transitions. */
export const AFTER = {
  idle: 'xstate.after.idleTimeout.spawnJob.running.idleWatch.watching',
} as const;

/** The events the runtime sends when the I/O a state started settles. */
export const ev = {
  loaded: (session: Session | undefined) => ({ type: 'job.loaded', session }),
  loadFailed: (error: unknown) => ({ type: 'job.loadFailed', error }),
  reserved: (reserved: boolean) => ({ type: 'job.reserved', reserved }),
  reserveFailed: (error: unknown) => ({ type: 'job.reserveFailed', error }),
  savedSkipped: () => ({ type: 'job.saved' }),
  saveSkippedFailed: (error: unknown) => ({ type: 'job.saveFailed', error }),
  savedRunning: () => ({ type: 'job.saved' }),
  saveRunningFailed: (error: unknown) => ({ type: 'job.saveFailed', error }),
  agentDone: () => ({ type: 'job.agentDone' }),
  agentFailed: (error: unknown) => ({ type: 'job.agentFailed', error }),
  savedFinal: () => ({ type: 'job.saved' }),
  saveFinalFailed: (error: unknown) => ({ type: 'job.saveFailed', error }),
  cancel: (reason: CompletionReason = 'user') => ({ type: 'job.cancel', reason }),
  timeout: () => ({ type: 'job.timeout' }) as const,
  abandon: () => ({ type: 'job.abandon' }) as const,
  discard: () => ({ type: 'job.discard' }) as const,
  wait: () => ({ type: 'job.wait' }) as const,
  resume: () => ({ type: 'job.resume' }) as const,
  idleElapsed: () => ({ type: AFTER.idle }),
} satisfies Record<string, (...args: never[]) => AnyEventObject>;

/** Drives a fresh job to `running` (loaded, reserved, marked running). */
export function toRunning(
  input: SpawnJobInput = jobInput(),
  session: Session = childSession(),
  machine: SpawnJobMachine = spawnJobMachine,
) {
  const first = start(input, machine);
  return sendAll(first.snapshot, [ev.loaded(session), ev.reserved(true), ev.savedRunning()], machine);
}
