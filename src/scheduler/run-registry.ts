import { createStore } from '@xstate/store';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import { isTerminal, type LiveRunStatus } from '../../machines/run-status.js';

/** Where a run is: queued, running, or one of the ends a completion reports (`run-status.ts`). */
export type RunStatus = LiveRunStatus;

/** What the registry knows of a child's latest run. Times are clock milliseconds. */
export interface RunRecord {
  runId: string;
  childSessionId: string;
  parentSessionId: string;
  title?: string | undefined;
  status: RunStatus;
  enqueuedAt: number;
  startedAt?: number | undefined;
  endedAt?: number | undefined;
  eventsSeen: number;
  lastEventAt?: number | undefined;
  error?: string | undefined;
  reason?: CompletionReason | undefined;
  result?: string | undefined;
}

/** True while a run is queued or running. */
export function isLive(record: RunRecord | undefined): boolean {
  return record !== undefined && !isTerminal(record.status);
}

interface RegistryContext {
  /** Latest run of each child. Mutated in place (O(1) per update), `version` marks changes. */
  runs: Map<string, RunRecord>;
  /** Children whose run ended, oldest first (a Set keeps insertion order): the retention queue. */
  ended: Set<string>;
  version: number;
}

/** Options of {@link createRunRegistry}. */
export interface RunRegistryOptions {
  /** How many ended runs to keep in memory for `getChild` / `waitForChildren`. @default 10000 */
  retainEnded?: number;
}

/**
 * The runner registry: the latest run of every child, on `@xstate/store`. Every update is keyed
 * by `(childSessionId, runId)`, so a stale run can never overwrite a newer one (Bamboo fault).
 * Ended runs are kept up to `retainEnded`, so memory stays flat however many runs pass through.
 *
 * @example
 * const registry = createRunRegistry();
 * registry.trigger.queued({ record: { runId: 'r1', childSessionId: 'c', parentSessionId: 'p', status: 'queued', enqueuedAt: 0, eventsSeen: 0 } });
 * registry.trigger.reserve({ childSessionId: 'c', runId: 'r1', at: 5 });
 */
export function createRunRegistry(options: RunRegistryOptions = {}) {
  const retainEnded = options.retainEnded ?? 10_000;
  const bump = (context: RegistryContext): RegistryContext => ({ ...context, version: context.version + 1 });
  return createStore({
    context: { runs: new Map<string, RunRecord>(), ended: new Set<string>(), version: 0 } satisfies RegistryContext,
    on: {
      queued: (context, event: { record: RunRecord }) => {
        const current = context.runs.get(event.record.childSessionId);
        if (isLive(current) && current?.runId !== event.record.runId) return context;
        context.runs.set(event.record.childSessionId, { ...event.record });
        return bump(context);
      },
      /** Claims the child for this run; fails (no change) when another run of it is live. */
      reserve: (context, event: { childSessionId: string; runId: string; parentSessionId?: string; at: number }) => {
        const current = context.runs.get(event.childSessionId);
        if (current && current.runId !== event.runId && isLive(current)) return context;
        if (current && current.runId === event.runId) {
          if (current.status !== 'queued') return context;
          current.status = 'running';
          current.startedAt = event.at;
        } else {
          context.runs.set(event.childSessionId, {
            runId: event.runId,
            childSessionId: event.childSessionId,
            parentSessionId: event.parentSessionId ?? '',
            status: 'running',
            enqueuedAt: event.at,
            startedAt: event.at,
            eventsSeen: 0,
          });
        }
        return bump(context);
      },
      ended: (
        context,
        event: Pick<RunRecord, 'childSessionId' | 'runId' | 'error' | 'reason' | 'result' | 'eventsSeen' | 'lastEventAt'> & {
          status: Exclude<RunStatus, 'queued' | 'running'>;
          at: number;
        },
      ) => {
        const current = context.runs.get(event.childSessionId);
        if (!current || current.runId !== event.runId) return context;
        Object.assign(current, {
          status: event.status,
          endedAt: event.at,
          error: event.error,
          reason: event.reason,
          result: event.result,
          eventsSeen: event.eventsSeen,
          lastEventAt: event.lastEventAt,
        });
        context.ended.delete(event.childSessionId);
        context.ended.add(event.childSessionId);
        while (context.ended.size > retainEnded) {
          const oldest = context.ended.values().next().value as string;
          context.ended.delete(oldest);
          if (!isLive(context.runs.get(oldest))) context.runs.delete(oldest);
        }
        return bump(context);
      },
    },
  });
}

/** The registry store's type. */
export type RunRegistry = ReturnType<typeof createRunRegistry>;

/** Reads the latest run of a child. */
export function getRun(registry: RunRegistry, childSessionId: string): RunRecord | undefined {
  return registry.getSnapshot().context.runs.get(childSessionId);
}
