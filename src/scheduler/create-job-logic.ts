import type { AnyActorRef } from 'xstate';
import { isRootJob, type SaveSessionInput, type SpawnJob, type SpawnJobEvent } from '../../machines/spawn-job.events.js';
import { NO_OUTCOME, spawnJobMachine } from '../../machines/spawn-job.machine.js';
import { isTerminal } from '../../machines/run-status.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import { toRfc3339 } from '../clock.js';
import type { SessionStore, Spawner } from '../api/ports.js';
import type { SchedulerDiagnostic } from '../api/scheduler-diagnostic.js';
import { loadValidSession, persistRun } from '../core/persist-run.js';
import { publishCompletion, type RunBook } from './run-completion.js';
import type { RunLedger } from './run-ledger.js';
import { endCrashedRun } from './end-crashed-run.js';
import { HeartbeatWheel } from './heartbeat-wheel.js';
import { RunTracker } from './run-tracker.js';
import { inRunContext } from './run-context.js';

/** What the job machine's implementations need. */
export interface JobLogicDeps extends RunBook {
  store: SessionStore;
  agent: AgentRuntime;
  tools: unknown;
  /** The scheduler an agent may grow its tree with (`ExecuteRequest.spawner`), once it exists. */
  spawner?: () => Spawner | undefined;
  /** Completions of crashed runs still being written (`stop()` waits for them). */
  crashEnds?: Set<Promise<void>>;
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
  /** The owner of the ledger of jobs created without a scheduler actor (no ledger recorded their run). */
  const standalone = {};
  /** Each job actor's ledger, found once. */
  const jobLedgers = new WeakMap<AnyActorRef, RunLedger>();
  /**
   * The run ledger of a job: the ledger of the scheduler actor that accepted its run (it recorded
   * the run before spawning the job), found by the run's id and child — no look at the actor
   * tree — or the standalone ledger for a job created on its own.
   */
  const ledgerOf = (self: AnyActorRef, runId: string, childSessionId: string): RunLedger => {
    let ledger = jobLedgers.get(self);
    if (ledger === undefined) {
      ledger = ledgers.holding(runId, childSessionId) ?? ledgers.of(standalone);
      jobLedgers.set(self, ledger);
    }
    return ledger;
  };
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

  const wheel = new HeartbeatWheel(clock);
  /** Run ids are unique per scheduler actor; embedded copies may repeat them, so the child is part of the key. */
  const runKey = (runId: string, childSessionId: string): string => `${runId}\n${childSessionId}`;
  /** The abort controllers of agents still running, by run id (aborted when `running` is left). */
  const agents = new Map<string, AbortController>();
  type JobRef = AnyActorRef & { send(event: SpawnJobEvent): void };
  /** Sends a result to a job actor unless it already ended (a late answer after an abandon or timeout). */
  const answer = (self: AnyActorRef, event: SpawnJobEvent): void => {
    if ((self.getSnapshot() as { status: string }).status === 'active') (self as JobRef).send(event);
  };
  /**
   * Whether a save of `runId` may still write its run metadata: while the run is the child's
   * newest in its ledger, and, once its end is recorded (its completion is out), only with the
   * status that completion reported. A save a slow store held until after the run ended (a
   * `running` marker, a `completed` save overtaken by the deadline) is retried after a conflict
   * with what recovery or the end's rewrite saved meanwhile: it keeps its messages, but must not
   * make the store disagree with the parent's stream again.
   */
  const mayWrite = (ledger: RunLedger, childSessionId: string, runId: string, status: string): boolean => {
    if (!ledger.isCurrent(childSessionId, runId)) return false;
    const record = ledger.runOf(childSessionId);
    return record === undefined || !isTerminal(record.status) || record.status === status;
  };
  /** Saves of a run still in flight (skip, running marker, final), by run: a run that ended without waiting for one writes its end (`writeEnd`). */
  const inflightSaves = new Map<string, Promise<void>>();
  /** Runs whose save failed: they end in `error`, and nothing of that end is in the store. */
  const unwrittenEnds = new Set<string>();
  const save = ({ self }: { self: AnyActorRef }, input: SaveSessionInput): Promise<void> => {
    const ledger = ledgerOf(self, input.runId, input.session.id);
    const key = runKey(input.runId, input.session.id);
    const saving = persistRun(store, input, () => mayWrite(ledger, input.session.id, input.runId, input.status), clock);
    inflightSaves.set(key, saving);
    const settled = (): void => {
      if (inflightSaves.get(key) === saving) inflightSaves.delete(key);
    };
    saving.then(
      () => {
        settled();
        answer(self, { type: 'job.saved' });
      },
      (error: unknown) => {
        settled();
        // Only for a job still waiting on it: a job that ended already wrote its end meanwhile.
        if ((self.getSnapshot() as { status: string }).status === 'active') unwrittenEnds.add(key);
        answer(self, { type: 'job.saveFailed', error });
      },
    );
    return saving;
  };
  /**
   * Writes the end the parent's stream reports, so the stored status never disagrees with the
   * completion: after a failed save (the store kept a `running` marker, or the previous run's
   * status, or none — recovery cannot find the last two, it only looks at children stored
   * `running` / `pending`: one more try now, the store may have recovered), and after the run
   * ended (deadline, cancel grace, stop) while a save was still in flight, which would land
   * `running` or `completed` for a run whose completion said `error` or `cancelled`. Then the end is written at once (from a copy: a save that never answers must not
   * hold it back) and again once that save settled; a late save that conflicts with it keeps
   * its messages but not its status (`mayWrite`). Best effort: a failure is reported, and a stale
   * `running` left behind is reconciled with the stream by the next `start()`.
   */
  const writeEnd = (self: AnyActorRef, job: SpawnJob, runId: string, input: SaveSessionInput): void => {
    const key = runKey(runId, job.childSessionId);
    const inflight = inflightSaves.get(key);
    inflightSaves.delete(key);
    const ledger = ledgerOf(self, runId, job.childSessionId);
    const write = (session: SaveSessionInput['session']): Promise<void> =>
      persistRun(store, { ...input, session }, () => mayWrite(ledger, job.childSessionId, runId, input.status), clock).catch(
        (error: unknown) => deps.report({ kind: 'job_crashed', runId, childSessionId: job.childSessionId, error }),
      );
    if (inflight === undefined) {
      void write(input.session);
      return;
    }
    void write(structuredClone(input.session));
    void inflight.catch(() => undefined).then(() => write(input.session));
  };
  const crash = (self: AnyActorRef, job: SpawnJob, runId: string, error: unknown): void => {
    deps.report({ kind: 'job_crashed', runId, childSessionId: job.childSessionId, error });
    const ending = endCrashedRun({ hub, ledger: ledgerOf(self, runId, job.childSessionId), store, clock }, job, runId, error, (d) =>
      deps.report(d),
    );
    deps.crashEnds?.add(ending);
    void ending.finally(() => deps.crashEnds?.delete(ending));
  };
  const publishHeartbeat = (tracker: RunTracker): void => {
    // A root's own run has no parent to tell it is alive.
    if (!tracker.isOpen || isRootJob(tracker.job)) return;
    const { job, runId } = tracker;
    void hub.publish(job.parentSessionId, {
      type: 'sub_session_heartbeat',
      parent_session_id: job.parentSessionId,
      child_session_id: job.childSessionId,
      run_id: runId,
      timestamp: toRfc3339(clock.now()),
      events_seen: tracker.eventsSeen,
      ...(tracker.lastEventAt === undefined ? {} : { last_event_at: toRfc3339(tracker.lastEventAt) }),
      ...(tracker.waitingOn === undefined ? {} : { waiting_on: [...tracker.waitingOn] }),
    });
  };

  return spawnJobMachine.provide({
    actions: {
      loadChild: ({ self }, { childSessionId, runId }) => {
        // With an asynchronous log, nothing of the run starts before its announcement is written
        // (a refused one discards the job meanwhile).
        const announcement = ledgerOf(self, runId, childSessionId).announcement(runId);
        const load = () => loadValidSession(store, childSessionId);
        (announcement ? announcement.then(load) : load()).then(
          (session) => answer(self, { type: 'job.loaded', session }),
          (error: unknown) => answer(self, { type: 'job.loadFailed', error }),
        );
      },
      reserveRun: ({ self }, { job, runId }) => {
        let reserved: boolean;
        try {
          reserved = ledgerOf(self, runId, job.childSessionId).reserve(job.childSessionId, runId, job.parentSessionId);
        } catch (error) {
          answer(self, { type: 'job.reserveFailed', error });
          return;
        }
        answer(self, { type: 'job.reserved', reserved });
      },
      saveSkipped: (args, input) => void save(args, input).catch(() => undefined),
      saveRunning: (args, input) => void save(args, input).catch(() => undefined),
      saveFinal: (args, input) => void save(args, input).catch(() => undefined),
      runAgent: ({ self }, input) => {
        const tracker = ledgerOf(self, input.runId, input.job.childSessionId).tracker(input.runId);
        const controller = new AbortController();
        const key = runKey(input.runId, input.job.childSessionId);
        agents.set(key, controller);
        let settled = false;
        const settle = (event: SpawnJobEvent): void => {
          if (settled) return;
          settled = true;
          if (agents.get(key) === controller) agents.delete(key);
          answer(self, event);
        };
        // An invalid event ends the run: fail it now and abort the agent.
        tracker?.onFailure((error) => {
          settle({ type: 'job.agentFailed', error });
          controller.abort(abortError(`run failed: ${error.message}`));
        });
        tracker?.onAbort(() => controller.abort(abortError('spawn job crashed')));
        let running: Promise<void>;
        const spawner = deps.spawner?.();
        try {
          running = Promise.resolve(
            inRunContext({ runId: input.runId, sessionId: input.job.childSessionId }, () =>
              agent.execute(input.session, {
                model: input.job.model,
                signal: controller.signal,
                emit: tracker?.emit ?? (() => {}),
                ...(deps.tools === undefined ? {} : { tools: deps.tools }),
                ...(spawner === undefined ? {} : { spawner }),
              }),
            ),
          );
        } catch (error) {
          // Whatever was thrown goes to the machine as is: `describeCause` turns any value,
          // even one `String()` cannot convert, into the run's error text.
          settle({ type: 'job.agentFailed', error });
          return;
        }
        running.then(
          () => settle({ type: 'job.agentDone' }),
          (error: unknown) => settle({ type: 'job.agentFailed', error }),
        );
      },
      openRun: ({ context, self }) => {
        const tracker = new RunTracker(
          context.job,
          context.runId,
          hub,
          () => clock.now(),
          (diagnostic) => deps.report(diagnostic),
        );
        ledgerOf(self, context.runId, context.job.childSessionId).track(tracker);
        const key = runKey(context.runId, context.job.childSessionId);
        wheel.add(key, context.limits.heartbeatIntervalMs, () => {
          try {
            publishHeartbeat(tracker);
          } catch (error) {
            // The heartbeat runs outside the job actor: a throwing implementation (clock, log)
            // ends the run as a crashed job would, exactly once, and aborts its agent.
            wheel.remove(key);
            crash(self, context.job, context.runId, error);
          }
        });
      },
      closeRun: ({ context, self }) => {
        ledgerOf(self, context.runId, context.job.childSessionId).tracker(context.runId)?.close();
        const key = runKey(context.runId, context.job.childSessionId);
        wheel.remove(key);
        // Leaving `running` before the agent settled (cancel, timeout, idle): abort it.
        const controller = agents.get(key);
        agents.delete(key);
        controller?.abort(abortError('run aborted'));
      },
      publishCompletion: ({ context, self }) => {
        const outcome = context.outcome ?? NO_OUTCOME;
        const key = runKey(context.runId, context.job.childSessionId);
        const unwritten = unwrittenEnds.delete(key);
        const ended = outcome.status === 'error' || outcome.status === 'cancelled';
        if (ended && (unwritten || inflightSaves.has(key)) && context.session !== undefined) {
          writeEnd(self, context.job, context.runId, {
            session: context.session,
            runId: context.runId,
            status: outcome.status,
            error: outcome.status === 'error' ? outcome.error : undefined,
          });
        }
        publishCompletion(hub, ledgerOf(self, context.runId, context.job.childSessionId), context.job, context.runId, outcome);
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
      markProgress: ({ context }) => ledgers.tracker(context.runId, context.job.childSessionId)?.markProgress(),
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
