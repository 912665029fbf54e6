import { assign, setup } from 'xstate';
import type { Session } from './session.schema.js';
import {
  describeCause,
  isRootJob,
  jobErrorText,
  type JobOutcome,
  type SaveSessionInput,
  type SpawnJob,
  type SpawnJobContext,
  type SpawnJobEvent,
  type SpawnJobInput,
  type SpawnJobOutput,
} from './spawn-job.events.js';

/** The outcome of a job that reached a final state without one (a bug guard; never expected). */
export const NO_OUTCOME: JobOutcome = { status: 'error', code: 'NO_OUTCOME', error: 'run ended without an outcome' };

/** The longest final answer a completion carries (docs/job-lifecycle.md). */
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

/** True when the loaded session is the one the job names (a child of its parent, or a root for a root's run). */
function isUsable(job: SpawnJob, session: Session | undefined): boolean {
  if (session === undefined) return false;
  if (isRootJob(job)) return session.kind === 'root';
  return session.kind === 'child' && session.parent_session_id === job.parentSessionId;
}

/** True when the session's last message is a `user` message (there is work to do). */
export function hasPendingUserMessage(session: Session): boolean {
  return session.messages.at(-1)?.role === 'user';
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
 * `markingRunning` → `running`) → `finalizing` → `completed` | `error` | `cancelled`. Inside
 * `running`, `slot` is `held` or `waiting` (the run gave its slot back while it waits for its
 * children) and `idleWatch` pauses while it waits.
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
  actions: {
    /** Runtime I/O: load the child and check its schema; answers `job.loaded` / `job.loadFailed`. */
    loadChild: (_, _params: { childSessionId: string; runId: string }) => {},
    /** Runtime I/O: claim the child for this run; answers `job.reserved` / `job.reserveFailed`. */
    reserveRun: (_, _params: { job: SpawnJob; runId: string }) => {},
    /** Runtime I/O: save the session marked `skipped`; answers `job.saved` / `job.saveFailed`. */
    saveSkipped: (_, _params: SaveSessionInput) => {},
    /** Runtime I/O: save the session marked `running`; answers `job.saved` / `job.saveFailed`. */
    saveRunning: (_, _params: SaveSessionInput) => {},
    /** Runtime I/O: save the session with its final status; answers `job.saved` / `job.saveFailed`. */
    saveFinal: (_, _params: SaveSessionInput) => {},
    /** Runtime I/O: run the agent; answers `job.agentDone` / `job.agentFailed`. */
    runAgent: (_, _params: { session: Session; job: SpawnJob; runId: string }) => {},
    /**
     * Runtime: start forwarding the run's events and put it on the heartbeat wheel (the first
     * `sub_session_heartbeat` at once, then one per interval) — entry of `running`.
     */
    openRun: () => {},
    /** Runtime: stop forwarding, take the run off the heartbeat wheel, abort an agent still running (exit of `running`). */
    closeRun: () => {},
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
    /** Runtime: count now as the run's last progress (the idle limit restarts after a wait). */
    markProgress: () => {},
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
    isNotChild: ({ context }, params: { session: Session | undefined }) => !isRootJob(context.job) && params.session?.kind !== 'child',
    /** A root's own run needs a root session. */
    isNotRoot: ({ context }, params: { session: Session | undefined }) => isRootJob(context.job) && params.session?.kind !== 'root',
    isWrongParent: ({ context }, params: { session: Session | undefined }) =>
      !isRootJob(context.job) && params.session?.parent_session_id !== context.job.parentSessionId,
    hasNoPendingMessage: (_, params: { session: Session | undefined }) =>
      params.session !== undefined && !hasPendingUserMessage(params.session),
    isCancelRequested: ({ context }) => context.cancelRequest !== undefined,
    /** The loaded session cannot run (missing, not a child, another parent's) and a cancel is requested. */
    isUnusableAndCancelled: ({ context }, params: { session: Session | undefined }) =>
      context.cancelRequest !== undefined && !isUsable(context.job, params.session),
    isNotReserved: (_, params: { reserved: boolean }) => !params.reserved,
    hasIdleTimeout: ({ context }) => context.limits.idleTimeoutMs !== undefined,
    /** Runtime override: true when no child event arrived for `idleTimeoutMs`. */
    isIdle: () => true,
    outcomeIs: ({ context }, params: { status: JobOutcome['status'] }) => context.outcome?.status === params.status,
  },
  delays: {
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
      entry: [
        'openJob',
        { type: 'loadChild', params: ({ context }) => ({ childSessionId: context.job.childSessionId, runId: context.runId }) },
      ],
      on: {
        ...storePhaseEvents,
        'job.loaded': [
          // A cancel requested before the load answered wins: the job never really started.
          {
            guard: { type: 'isUnusableAndCancelled', params: ({ event }) => ({ session: event.session }) },
            target: 'cancelled',
            actions: 'assignCancelled',
          },
          {
            guard: { type: 'isMissing', params: ({ event }) => ({ session: event.session }) },
            target: 'error',
            actions: assign({ outcome: { status: 'error', code: 'CHILD_NOT_FOUND', error: jobErrorText.notFound } }),
          },
          {
            guard: { type: 'isNotChild', params: ({ event }) => ({ session: event.session }) },
            target: 'error',
            actions: assign({ outcome: { status: 'error', code: 'CHILD_NOT_KIND_CHILD', error: jobErrorText.notChild } }),
          },
          {
            guard: { type: 'isNotRoot', params: ({ event }) => ({ session: event.session }) },
            target: 'error',
            actions: assign({ outcome: { status: 'error', code: 'SESSION_NOT_ROOT', error: jobErrorText.notRoot } }),
          },
          {
            guard: { type: 'isWrongParent', params: ({ event }) => ({ session: event.session }) },
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
            actions: assign({ session: ({ event }) => event.session }),
          },
          {
            guard: { type: 'hasNoPendingMessage', params: ({ event }) => ({ session: event.session }) },
            target: 'skipping',
            actions: assign({
              session: ({ event }) => event.session,
              outcome: { status: 'skipped', error: jobErrorText.noPendingMessage },
            }),
          },
          { target: 'reserving', actions: assign({ session: ({ event }) => event.session }) },
        ],
        'job.loadFailed': [
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
      entry: {
        type: 'saveSkipped',
        params: ({ context }) => ({
          session: context.session as Session,
          runId: context.runId,
          status: 'skipped' as const,
          error: jobErrorText.noPendingMessage,
        }),
      },
      on: {
        ...storePhaseEvents,
        'job.saved': 'skipped',
        'job.saveFailed': { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
      },
    },
    reserving: {
      entry: { type: 'reserveRun', params: ({ context }) => ({ job: context.job, runId: context.runId }) },
      on: {
        ...storePhaseEvents,
        'job.reserved': [
          {
            guard: { type: 'isNotReserved', params: ({ event }) => ({ reserved: event.reserved }) },
            target: 'duplicate',
            actions: assign({ outcome: { status: 'duplicate' } }),
          },
          { guard: 'isCancelRequested', target: 'finalizing', actions: 'assignCancelled' },
          { target: 'markingRunning' },
        ],
        'job.reserveFailed': {
          target: 'error',
          actions: assign({ outcome: ({ event }) => ({ status: 'error', code: 'RESERVE_FAILED', error: describeCause(event.error) }) }),
        },
      },
    },
    markingRunning: {
      entry: {
        type: 'saveRunning',
        params: ({ context }) => ({ session: context.session as Session, runId: context.runId, status: 'running' as const }),
      },
      on: {
        ...storePhaseEvents,
        'job.saved': [{ guard: 'isCancelRequested', target: 'finalizing', actions: 'assignCancelled' }, { target: 'running' }],
        'job.saveFailed': { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
      },
    },
    running: {
      type: 'parallel',
      entry: [
        'openRun',
        { type: 'runAgent', params: ({ context }) => ({ session: context.session as Session, job: context.job, runId: context.runId }) },
      ],
      exit: 'closeRun',
      on: {
        'job.agentDone': {
          target: 'finalizing',
          actions: assign({ outcome: ({ context }) => ({ status: 'completed', result: finalAnswerOf(context.session) }) }),
        },
        'job.agentFailed': {
          target: 'finalizing',
          actions: assign({ outcome: ({ event }) => ({ status: 'error', code: 'AGENT_FAILED', error: describeCause(event.error) }) }),
        },
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
        /**
         * Whether the run holds a slot: `waiting` while it waits for its children (`job.wait`),
         * back to `held` when it takes a slot again (`job.resume`).
         */
        slot: {
          initial: 'held',
          states: {
            held: { on: { 'job.wait': 'waiting' } },
            waiting: { on: { 'job.resume': 'held' } },
          },
        },
        idleWatch: {
          initial: 'checking',
          states: {
            checking: { always: [{ guard: 'hasIdleTimeout', target: 'watching' }, { target: 'unlimited' }] },
            unlimited: {},
            /** Waiting for children is not idleness: the idle limit counts again from `job.resume`. */
            paused: { on: { 'job.resume': { target: 'checking', actions: 'markProgress' } } },
            watching: {
              on: { 'job.wait': 'paused' },
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
      entry: {
        type: 'saveFinal',
        params: ({ context }) => ({
          session: context.session as Session,
          runId: context.runId,
          status: context.outcome?.status === 'completed' ? 'completed' : context.outcome?.status === 'cancelled' ? 'cancelled' : 'error',
          error: context.outcome && 'error' in context.outcome ? context.outcome.error : undefined,
        }),
      },
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
        'job.saved': [
          { guard: { type: 'outcomeIs', params: { status: 'completed' } }, target: 'completed' },
          { guard: { type: 'outcomeIs', params: { status: 'cancelled' } }, target: 'cancelled' },
          { target: 'error' },
        ],
        'job.saveFailed': { target: 'error', actions: { type: 'assignSaveFailed', params: ({ event }) => ({ cause: event.error }) } },
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
