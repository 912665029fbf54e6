import { assign, fromPromise, setup } from 'xstate';
import type { Session } from './session.schema.js';
import {
  describeCause,
  jobErrorText,
  type JobOutcome,
  type ReserveResult,
  type SaveSessionInput,
  type SpawnJob,
  type SpawnJobContext,
  type SpawnJobEvent,
  type SpawnJobInput,
  type SpawnJobOutput,
} from './spawn-job.events.js';

/** The outcome of a job that reached a final state without one (a bug guard; never expected). */
export const NO_OUTCOME: JobOutcome = { status: 'error', code: 'NO_OUTCOME', error: 'run ended without an outcome' };

/** The longest final answer a completion carries (DESIGN §3). */
export const MAX_RESULT_CHARS = 4000;

/** The child's final answer: the last assistant message after the last user message, capped. */
export function finalAnswerOf(session: Session | undefined): string | undefined {
  if (!session) return undefined;
  for (let i = session.messages.length - 1; i >= 0; i--) {
    const message = session.messages[i];
    if (!message || message.role === 'user') return undefined;
    if (message.role === 'assistant' && message.content.length > 0) {
      if (message.content.length <= MAX_RESULT_CHARS) return message.content;
      // Never cut a surrogate pair in half: a lone high surrogate is not valid Unicode.
      const last = message.content.charCodeAt(MAX_RESULT_CHARS - 1);
      return message.content.slice(0, last >= 0xd800 && last <= 0xdbff ? MAX_RESULT_CHARS - 1 : MAX_RESULT_CHARS);
    }
  }
  return undefined;
}

/** True when the session's last message is a `user` message (there is work to do). */
export function hasPendingUserMessage(session: Session): boolean {
  return session.messages.at(-1)?.role === 'user';
}

/**
 * An actor the runtime must provide (`spawnJobMachine.provide({ actors })`): typed with its real
 * input and output, and failing loudly when a runtime forgot it.
 */
function required<TOutput, TInput>(name: string) {
  return fromPromise<TOutput, TInput>(() => Promise.reject(new Error(`spawn-job actor "${name}" was not provided`)));
}

/**
 * What every store phase (`loading`, `skipping`, `reserving`, `markingRunning`) does with the
 * outside events: a cancel is recorded and arms its grace; `job.abandon` (the grace ran out) ends
 * the job `cancelled` without the store call; `job.discard` ends it silently; `job.timeout`
 * (`maxRunMs`) ends it in `error` — or `cancelled` when a cancel was requested first.
 */
const storePhaseEvents = {
  'job.cancel': { actions: ['recordCancel', 'armCancelGrace'] },
  'job.discard': { target: 'discarded', actions: 'assignDiscarded' },
  'job.abandon': { guard: 'isCancelRequested', target: 'cancelled', actions: 'assignCancelled' },
  'job.timeout': [
    { guard: 'isCancelRequested', target: 'cancelled', actions: 'assignCancelled' },
    { target: 'error', actions: 'assignTimedOut' },
  ],
} as const;

/**
 * The spawn-job machine: one run of one child session, from loading it to publishing its
 * completion. Pure: every effect is a named actor, action, guard or delay that `src/` provides
 * with `spawnJobMachine.provide(...)`. Child events do not pass through this machine; it only
 * ticks heartbeats and watches the idle limit. Every phase ends on `job.cancel` (a store call in
 * flight gets a grace, then `job.abandon` ends the job without it) and on `job.timeout` (the
 * runtime's `maxRunMs` deadline, armed by `openJob` when the job begins).
 *
 * States: `loading` → (`error` | `skipping` → `skipped` | `reserving`) → (`duplicate` |
 * `markingRunning` → `running`) → `finalizing` → `completed` | `error` | `cancelled`.
 *
 * @example
 * const job = createActor(spawnJobMachine.provide({ actors: { loadChild, reserveRun, saveSession, runAgent } }), {
 *   input: { job: { parentSessionId: 'p', childSessionId: 'c', model: 'm' }, runId: 'r1', limits: { heartbeatIntervalMs: 5000 } },
 * }).start();
 */
export const spawnJobMachine = setup({
  types: {
    context: {} as SpawnJobContext,
    events: {} as SpawnJobEvent,
    input: {} as SpawnJobInput,
    output: {} as SpawnJobOutput,
  },
  actors: {
    loadChild: required<Session | undefined, { childSessionId: string; runId: string }>('loadChild'),
    reserveRun: required<ReserveResult, { job: SpawnJob; runId: string }>('reserveRun'),
    saveSession: required<void, SaveSessionInput>('saveSession'),
    runAgent: required<void, { session: Session; job: SpawnJob; runId: string }>('runAgent'),
  },
  actions: {
    /** Runtime: start counting the run's events (entry of `running`). */
    openRun: () => {},
    /** Runtime: stop forwarding the run's events; late events are dropped (exit of `running`). */
    closeRun: () => {},
    /** Runtime: publish `sub_session_heartbeat` on the parent. */
    publishHeartbeat: () => {},
    /** Runtime: record the end in the registry, then publish `sub_session_completed`. */
    publishCompletion: () => {},
    /** Runtime: note that this run lost the reservation to another run of the same child. */
    reportDuplicate: () => {},
    /** Runtime: the job began (entry of `loading`): arm the `maxRunMs` deadline (`job.timeout`). */
    openJob: () => {},
    /** Runtime: a cancel arrived: arm the grace after which `job.abandon` ends the job. */
    armCancelGrace: () => {},
    /** Runtime: the job reached a final state: clear its timers. */
    closeJob: () => {},
    /** The outcome of a run that was never announced. */
    assignDiscarded: assign({ outcome: { status: 'discarded' as const } }),
    /** Records the first cancel request (a later one does not change its reason). */
    recordCancel: assign({
      cancelRequest: ({ context, event }) =>
        context.cancelRequest ?? { reason: (event as Extract<SpawnJobEvent, { type: 'job.cancel' }>).reason },
    }),
    /** The outcome of a cancelled run (reason from the cancel request). */
    assignCancelled: assign({
      outcome: ({ context }) => ({ status: 'cancelled' as const, reason: context.cancelRequest?.reason ?? 'user' }),
    }),
    /** The outcome of a run whose save failed. */
    assignSaveFailed: assign((_, params: { cause: unknown }) => ({
      outcome: {
        status: 'error' as const,
        code: 'STORE_SAVE_FAILED' as const,
        error: jobErrorText.saveFailed(describeCause(params.cause)),
      },
    })),
    /** The outcome of a run whose `maxRunMs` ran out. */
    assignTimedOut: assign({
      outcome: ({ context }) => ({
        status: 'error' as const,
        code: 'RUN_TIMEOUT' as const,
        reason: 'timeout' as const,
        error: jobErrorText.timedOut(context.limits.maxRunMs ?? 0),
      }),
    }),
  },
  guards: {
    isMissing: (_, params: { session: Session | undefined }) => params.session === undefined,
    isNotChild: (_, params: { session: Session | undefined }) => params.session?.kind !== 'child',
    isWrongParent: ({ context }, params: { session: Session | undefined }) =>
      params.session?.parent_session_id !== context.job.parentSessionId,
    hasNoPendingMessage: (_, params: { session: Session | undefined }) =>
      params.session !== undefined && !hasPendingUserMessage(params.session),
    isCancelRequested: ({ context }) => context.cancelRequest !== undefined,
    /** The loaded session cannot run (missing, not a child, another parent's) and a cancel is requested. */
    isUnusableAndCancelled: ({ context }, params: { session: Session | undefined }) =>
      context.cancelRequest !== undefined &&
      (params.session === undefined || params.session.kind !== 'child' || params.session.parent_session_id !== context.job.parentSessionId),
    isNotReserved: (_, params: { result: ReserveResult }) => !params.result.reserved,
    hasIdleTimeout: ({ context }) => context.limits.idleTimeoutMs !== undefined,
    /** Runtime override: true when no child event arrived for `idleTimeoutMs`. */
    isIdle: () => true,
    outcomeIs: ({ context }, params: { status: JobOutcome['status'] }) => context.outcome?.status === params.status,
  },
  delays: {
    heartbeatInterval: ({ context }) => context.limits.heartbeatIntervalMs,
    /** Runtime override: time left until the run has been idle for `idleTimeoutMs`. */
    idleTimeout: ({ context }) => context.limits.idleTimeoutMs ?? 0,
  },
}).createMachine({
  id: 'spawnJob',
  context: ({ input }) => ({
    job: input.job,
    runId: input.runId,
    limits: input.limits,
    cancelRequest: input.cancelRequest,
  }),
  initial: 'loading',
  states: {
    loading: {
      entry: 'openJob',
      on: storePhaseEvents,
      invoke: {
        id: 'loadChild',
        src: 'loadChild',
        input: ({ context }) => ({ childSessionId: context.job.childSessionId, runId: context.runId }),
        onDone: [
          // A cancel requested before the load answered wins: the job never really started.
          {
            guard: { type: 'isUnusableAndCancelled', params: ({ event }) => ({ session: event.output }) },
            target: 'cancelled',
            actions: 'assignCancelled',
          },
          {
            guard: { type: 'isMissing', params: ({ event }) => ({ session: event.output }) },
            target: 'error',
            actions: assign({ outcome: { status: 'error', code: 'CHILD_NOT_FOUND', error: jobErrorText.notFound } }),
          },
          {
            guard: { type: 'isNotChild', params: ({ event }) => ({ session: event.output }) },
            target: 'error',
            actions: assign({ outcome: { status: 'error', code: 'CHILD_NOT_KIND_CHILD', error: jobErrorText.notChild } }),
          },
          {
            guard: { type: 'isWrongParent', params: ({ event }) => ({ session: event.output }) },
            target: 'error',
            actions: assign({
              outcome: ({ context }) => ({
                status: 'error',
                code: 'CHILD_WRONG_PARENT',
                error: jobErrorText.wrongParent(context.job.childSessionId, context.job.parentSessionId),
              }),
            }),
          },
          {
            guard: 'isCancelRequested',
            target: 'reserving',
            actions: assign({ session: ({ event }) => event.output }),
          },
          {
            guard: { type: 'hasNoPendingMessage', params: ({ event }) => ({ session: event.output }) },
            target: 'skipping',
            actions: assign({
              session: ({ event }) => event.output,
              outcome: { status: 'skipped', error: jobErrorText.noPendingMessage },
            }),
          },
          { target: 'reserving', actions: assign({ session: ({ event }) => event.output }) },
        ],
        onError: [
          { guard: 'isCancelRequested', target: 'cancelled', actions: 'assignCancelled' },
          {
            target: 'error',
            actions: assign({
              outcome: ({ event }) => ({
                status: 'error',
                code: 'CHILD_LOAD_FAILED',
                error: jobErrorText.loadFailed(describeCause(event.error)),
              }),
            }),
          },
        ],
      },
    },
    skipping: {
      on: storePhaseEvents,
      invoke: {
        id: 'saveSkipped',
        src: 'saveSession',
        input: ({ context }) => ({
          session: context.session as Session,
          runId: context.runId,
          status: 'skipped',
          error: jobErrorText.noPendingMessage,
        }),
        onDone: 'skipped',
        onError: { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
      },
    },
    reserving: {
      on: storePhaseEvents,
      invoke: {
        id: 'reserveRun',
        src: 'reserveRun',
        input: ({ context }) => ({ job: context.job, runId: context.runId }),
        onDone: [
          {
            guard: { type: 'isNotReserved', params: ({ event }) => ({ result: event.output }) },
            target: 'duplicate',
            actions: assign({ outcome: { status: 'duplicate' } }),
          },
          { guard: 'isCancelRequested', target: 'finalizing', actions: 'assignCancelled' },
          { target: 'markingRunning' },
        ],
        onError: {
          target: 'error',
          actions: assign({ outcome: ({ event }) => ({ status: 'error', code: 'RESERVE_FAILED', error: describeCause(event.error) }) }),
        },
      },
    },
    markingRunning: {
      on: storePhaseEvents,
      invoke: {
        id: 'saveRunning',
        src: 'saveSession',
        input: ({ context }) => ({ session: context.session as Session, runId: context.runId, status: 'running' }),
        onDone: [{ guard: 'isCancelRequested', target: 'finalizing', actions: 'assignCancelled' }, { target: 'running' }],
        onError: { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
      },
    },
    running: {
      type: 'parallel',
      entry: 'openRun',
      exit: 'closeRun',
      invoke: {
        id: 'agent',
        src: 'runAgent',
        input: ({ context }) => ({ session: context.session as Session, job: context.job, runId: context.runId }),
        onDone: {
          target: 'finalizing',
          actions: assign({ outcome: ({ context }) => ({ status: 'completed', result: finalAnswerOf(context.session) }) }),
        },
        onError: {
          target: 'finalizing',
          actions: assign({ outcome: ({ event }) => ({ status: 'error', code: 'AGENT_FAILED', error: describeCause(event.error) }) }),
        },
      },
      on: {
        'job.cancel': {
          target: 'finalizing',
          actions: [
            assign({
              cancelRequest: ({ event }) => ({ reason: event.reason }),
              outcome: ({ event }) => ({ status: 'cancelled', reason: event.reason }),
            }),
            'armCancelGrace',
          ],
        },
        'job.timeout': { target: 'finalizing', actions: 'assignTimedOut' },
      },
      states: {
        heartbeat: {
          initial: 'beating',
          states: {
            beating: {
              entry: 'publishHeartbeat',
              after: { heartbeatInterval: { target: 'beating', reenter: true } },
            },
          },
        },
        idleWatch: {
          initial: 'checking',
          states: {
            checking: { always: [{ guard: 'hasIdleTimeout', target: 'watching' }, { target: 'unlimited' }] },
            unlimited: {},
            watching: {
              after: {
                idleTimeout: [
                  {
                    guard: 'isIdle',
                    target: '#spawnJob.finalizing',
                    actions: assign({
                      outcome: ({ context }) => ({
                        status: 'error',
                        code: 'RUN_IDLE',
                        reason: 'idle',
                        error: jobErrorText.idle(context.limits.idleTimeoutMs ?? 0),
                      }),
                    }),
                  },
                  { target: 'watching', reenter: true },
                ],
              },
            },
          },
        },
      },
    },
    finalizing: {
      on: {
        'job.cancel': { actions: ['recordCancel', 'armCancelGrace'] },
        'job.abandon': [
          { guard: { type: 'outcomeIs', params: { status: 'cancelled' } }, target: 'cancelled' },
          {
            guard: 'isCancelRequested',
            target: 'error',
            actions: assign({
              outcome: { status: 'error', code: 'STORE_SAVE_FAILED', error: jobErrorText.saveFailed(jobErrorText.saveAbandoned) },
            }),
          },
        ],
        // A cancelled run whose final save hangs stays cancelled when the deadline fires.
        'job.timeout': [
          { guard: { type: 'outcomeIs', params: { status: 'cancelled' } }, target: 'cancelled' },
          { target: 'error', actions: 'assignTimedOut' },
        ],
      },
      invoke: {
        id: 'saveFinal',
        src: 'saveSession',
        input: ({ context }) => ({
          session: context.session as Session,
          runId: context.runId,
          status: context.outcome?.status === 'completed' ? 'completed' : context.outcome?.status === 'cancelled' ? 'cancelled' : 'error',
          error: context.outcome && 'error' in context.outcome ? context.outcome.error : undefined,
        }),
        onDone: [
          { guard: { type: 'outcomeIs', params: { status: 'completed' } }, target: 'completed' },
          { guard: { type: 'outcomeIs', params: { status: 'cancelled' } }, target: 'cancelled' },
          { target: 'error' },
        ],
        onError: { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
      },
    },
    completed: { type: 'final', entry: ['closeJob', 'publishCompletion'] },
    error: { type: 'final', entry: ['closeJob', 'publishCompletion'] },
    cancelled: { type: 'final', entry: ['closeJob', 'publishCompletion'] },
    skipped: { type: 'final', entry: ['closeJob', 'publishCompletion'] },
    duplicate: { type: 'final', entry: ['closeJob', 'reportDuplicate'] },
    /** Never announced (its `sub_session_started` could not be written): ends silently. */
    discarded: { type: 'final', entry: 'closeJob' },
  },
  output: ({ context }): SpawnJobOutput => ({
    runId: context.runId,
    parentSessionId: context.job.parentSessionId,
    childSessionId: context.job.childSessionId,
    ...(context.outcome ?? NO_OUTCOME),
  }),
});

/** The spawn-job machine's type, for `provide()` and typed snapshots. */
export type SpawnJobMachine = typeof spawnJobMachine;
