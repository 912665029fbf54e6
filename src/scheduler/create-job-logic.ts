import { fromPromise, type AnyActorRef } from 'xstate';
import type { Session } from '../../machines/session.schema.js';
import type { ReserveResult, SaveSessionInput, SpawnJob, SpawnJobEvent } from '../../machines/spawn-job.events.js';
import { NO_OUTCOME, spawnJobMachine } from '../../machines/spawn-job.machine.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import { toRfc3339 } from '../clock.js';
import type { SessionStore } from '../api/ports.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { loadValidSession, persistRun } from './persist-run.js';
import { publishCompletion, type RunBook } from './run-completion.js';
import type { RunLedger } from './run-ledger.js';
import { RunTracker } from './run-tracker.js';

/** What the job machine's implementations need. */
export interface JobLogicDeps extends RunBook {
  store: SessionStore;
  agent: AgentRuntime;
  tools: unknown;
  /** Also publish each child event, as is, on the child's own stream. */
  mirrorChildEvents?: boolean;
  report(diagnostic: SchedulerDiagnostic): void;
}

/** How long a cancelled job waits for a store call in flight when the limits do not say. */
export const DEFAULT_CANCEL_GRACE_MS = 1000;

/** The clock timers of one job: its `maxRunMs` deadline and its cancel grace. */
interface JobTimers {
  deadline?: unknown;
  grace?: unknown;
}

/** Creates an AbortError like the platform's. */
function abortError(reason: unknown): Error {
  const error = new Error(typeof reason === 'string' ? reason : 'run aborted');
  error.name = 'AbortError';
  return error;
}

/**
 * The spawn-job machine with Sprout's implementations plugged in (`machine.provide`): store
 * access, the reservation in the run ledger, the agent run with its event forwarding, heartbeats
 * and the exactly-once completion. A job writes to the ledger of the scheduler actor that spawned
 * it (a job created on its own uses one shared ledger of this logic).
 *
 * @example
 * const jobLogic = createJobLogic({ store, agent, tools: undefined, hub, clock, ledgers: new RunLedgers({ now: clock.now }), report });
 */
export function createJobLogic(deps: JobLogicDeps) {
  const { store, agent, hub, clock, ledgers } = deps;
  /** The owner of the ledger of jobs created without a scheduler actor as their parent. */
  const standalone = {};
  const ledgerOf = (self: AnyActorRef): RunLedger => ledgers.of(self._parent ?? standalone);
  /** The ledger of the job that invoked a promise actor. */
  const jobLedger = (self: AnyActorRef): RunLedger => (self._parent ? ledgerOf(self._parent) : ledgers.of(standalone));
  const timers = new Map<string, JobTimers>();
  const clearTimers = (runId: string): void => {
    const entry = timers.get(runId);
    if (!entry) return;
    timers.delete(runId);
    if (entry.deadline !== undefined) clock.clearTimeout(entry.deadline);
    if (entry.grace !== undefined) clock.clearTimeout(entry.grace);
  };
  /** Sends an event to a job actor unless it already ended (a timer racing its end). */
  const sendIfActive = (self: { getSnapshot(): { status: string }; send(event: SpawnJobEvent): void }, event: SpawnJobEvent) => {
    if (self.getSnapshot().status === 'active') self.send(event);
  };

  return spawnJobMachine.provide({
    actors: {
      loadChild: fromPromise<Session | undefined, { childSessionId: string; runId: string }>(async ({ input, self }) => {
        // With an asynchronous log, nothing of the run starts before its announcement is written
        // (a refused one discards the job meanwhile).
        const announcement = jobLedger(self).announcement(input.runId);
        if (announcement) await announcement;
        return loadValidSession(store, input.childSessionId);
      }),
      reserveRun: fromPromise<ReserveResult, { job: SpawnJob; runId: string }>(({ input, self }) => {
        const { job, runId } = input;
        const reserved = jobLedger(self).reserve(job.childSessionId, runId, job.parentSessionId);
        return Promise.resolve({ reserved });
      }),
      saveSession: fromPromise<void, SaveSessionInput>(({ input, self }) => {
        const ledger = jobLedger(self);
        return persistRun(store, input, () => ledger.isCurrent(input.session.id, input.runId), clock);
      }),
      runAgent: fromPromise<void, { session: Session; job: SpawnJob; runId: string }>(({ input, signal, self }) => {
        const tracker = jobLedger(self).tracker(input.runId);
        return new Promise<void>((resolve, reject) => {
          const controller = new AbortController();
          // An invalid event ends the run: reject now and abort the agent (XState does not abort
          // an actor that already failed).
          tracker?.onFailure((error) => {
            reject(error);
            controller.abort(abortError(`run failed: ${error.message}`));
          });
          const onAbort = () => {
            controller.abort(abortError(signal.reason));
          };
          if (signal.aborted) onAbort();
          else signal.addEventListener('abort', onAbort, { once: true });
          tracker?.onAbort(() => controller.abort(abortError('spawn job crashed')));
          let running: Promise<void>;
          try {
            running = Promise.resolve(
              agent.execute(input.session, {
                model: input.job.model,
                signal: controller.signal,
                emit: tracker?.emit ?? (() => {}),
                ...(deps.tools === undefined ? {} : { tools: deps.tools }),
              }),
            );
          } catch (error) {
            // Whatever was thrown goes to the machine as is: `describeCause` turns any value,
            // even one `String()` cannot convert, into the run's error text.
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the raw value is the run's cause
            reject(error);
            return;
          }
          running.then(
            () => resolve(),
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the raw value is the run's cause
            (error: unknown) => reject(error),
          );
        });
      }),
    },
    actions: {
      openRun: ({ context, self }) => {
        ledgerOf(self).track(
          new RunTracker(
            context.job,
            context.runId,
            hub,
            () => clock.now(),
            (diagnostic) => deps.report(diagnostic),
            deps.mirrorChildEvents === true,
          ),
        );
      },
      closeRun: ({ context, self }) => {
        ledgerOf(self).tracker(context.runId)?.close();
      },
      publishHeartbeat: ({ context, self }) => {
        const tracker = ledgerOf(self).tracker(context.runId);
        if (!tracker?.isOpen) return;
        void hub.publish(context.job.parentSessionId, {
          type: 'sub_session_heartbeat',
          parent_session_id: context.job.parentSessionId,
          child_session_id: context.job.childSessionId,
          run_id: context.runId,
          timestamp: toRfc3339(clock.now()),
          events_seen: tracker.eventsSeen,
          ...(tracker.lastEventAt === undefined ? {} : { last_event_at: toRfc3339(tracker.lastEventAt) }),
        });
      },
      publishCompletion: ({ context, self }) => {
        publishCompletion(hub, ledgerOf(self), context.job, context.runId, context.outcome ?? NO_OUTCOME);
      },
      reportDuplicate: ({ context }) => {
        deps.report({ kind: 'duplicate_run', runId: context.runId, childSessionId: context.job.childSessionId });
      },
      openJob: ({ context, self }) => {
        const limit = context.limits.maxRunMs;
        if (limit === undefined) return;
        const entry = timers.get(context.runId) ?? {};
        entry.deadline = clock.setTimeout(() => sendIfActive(self, { type: 'job.timeout' }), limit);
        timers.set(context.runId, entry);
      },
      armCancelGrace: ({ context, self }) => {
        const entry = timers.get(context.runId) ?? {};
        if (entry.grace !== undefined) return;
        entry.grace = clock.setTimeout(
          () => sendIfActive(self, { type: 'job.abandon' }),
          context.limits.cancelGraceMs ?? DEFAULT_CANCEL_GRACE_MS,
        );
        timers.set(context.runId, entry);
      },
      closeJob: ({ context }) => clearTimers(context.runId),
    },
    guards: {
      isIdle: ({ context }) => {
        const tracker = ledgers.tracker(context.runId, context.job.childSessionId);
        const limit = context.limits.idleTimeoutMs ?? 0;
        return !tracker || clock.now() - tracker.lastProgressAt() >= limit;
      },
    },
    delays: {
      idleTimeout: ({ context }) => {
        const tracker = ledgers.tracker(context.runId, context.job.childSessionId);
        const limit = context.limits.idleTimeoutMs ?? 0;
        if (!tracker) return limit;
        return Math.max(0, limit - (clock.now() - tracker.lastProgressAt()));
      },
    },
  });
}

/** The provided job logic's type. */
export type JobLogic = ReturnType<typeof createJobLogic>;
