import { fromPromise } from 'xstate';
import type { Session } from '../../machines/session.schema.js';
import type { ReserveResult, SaveSessionInput, SpawnJob, SpawnJobEvent } from '../../machines/spawn-job.events.js';
import { NO_OUTCOME, spawnJobMachine } from '../../machines/spawn-job.machine.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import { toRfc3339 } from '../clock.js';
import type { SessionStore } from '../api/ports.js';
import type { SchedulerDiagnostic } from './diagnostics.js';
import { loadValidSession, persistRun } from './persist-run.js';
import { publishCompletion, type RunBook } from './run-completion.js';
import { getRun } from './run-registry.js';
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
 * access, the registry reservation, the agent run with its event forwarding, heartbeats and the
 * exactly-once completion.
 *
 * @example
 * const jobLogic = createJobLogic({ store, agent, tools: undefined, hub, registry, clock, trackers: new Map(), completed: new Set(), report });
 */
export function createJobLogic(deps: JobLogicDeps) {
  const { store, agent, hub, registry, clock, trackers } = deps;
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
  const isCurrentRun = (childSessionId: string, runId: string) => () => {
    const record = getRun(registry, childSessionId);
    return record === undefined || record.runId === runId;
  };

  return spawnJobMachine.provide({
    actors: {
      loadChild: fromPromise<Session | undefined, { childSessionId: string }>(({ input }) => loadValidSession(store, input.childSessionId)),
      reserveRun: fromPromise<ReserveResult, { job: SpawnJob; runId: string }>(({ input }) => {
        const { job, runId } = input;
        registry.trigger.reserve({ childSessionId: job.childSessionId, runId, parentSessionId: job.parentSessionId, at: clock.now() });
        const record = getRun(registry, job.childSessionId);
        return Promise.resolve({ reserved: record?.runId === runId && record.status === 'running' });
      }),
      saveSession: fromPromise<void, SaveSessionInput>(({ input }) =>
        persistRun(store, input, isCurrentRun(input.session.id, input.runId), clock),
      ),
      runAgent: fromPromise<void, { session: Session; job: SpawnJob; runId: string }>(({ input, signal }) => {
        const tracker = trackers.get(input.runId);
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
      openRun: ({ context }) => {
        trackers.set(
          context.runId,
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
      closeRun: ({ context }) => {
        trackers.get(context.runId)?.close();
      },
      publishHeartbeat: ({ context }) => {
        const tracker = trackers.get(context.runId);
        if (!tracker?.isOpen) return;
        hub.publish(context.job.parentSessionId, {
          type: 'sub_session_heartbeat',
          parent_session_id: context.job.parentSessionId,
          child_session_id: context.job.childSessionId,
          run_id: context.runId,
          timestamp: toRfc3339(clock.now()),
          events_seen: tracker.eventsSeen,
          ...(tracker.lastEventAt === undefined ? {} : { last_event_at: toRfc3339(tracker.lastEventAt) }),
        });
      },
      publishCompletion: ({ context }) => {
        publishCompletion(deps, context.job, context.runId, context.outcome ?? NO_OUTCOME);
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
        const tracker = trackers.get(context.runId);
        const limit = context.limits.idleTimeoutMs ?? 0;
        return !tracker || clock.now() - tracker.lastProgressAt() >= limit;
      },
    },
    delays: {
      idleTimeout: ({ context }) => {
        const tracker = trackers.get(context.runId);
        const limit = context.limits.idleTimeoutMs ?? 0;
        if (!tracker) return limit;
        return Math.max(0, limit - (clock.now() - tracker.lastProgressAt()));
      },
    },
  });
}

/** The provided job logic's type. */
export type JobLogic = ReturnType<typeof createJobLogic>;
