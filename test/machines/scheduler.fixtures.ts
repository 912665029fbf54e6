import { initialTransition } from 'xstate';
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { SchedulerContext, SchedulerInput, WaitingEnqueue } from '../../machines/scheduler.events.js';
import { schedulerMachine } from '../../machines/scheduler.machine.js';
import { cloneSchedulerContext, type Plan, type SchedulerEffect } from '../../machines/scheduler.plan.js';
import type { SpawnJobOutput } from '../../machines/spawn-job.events.js';

/** Helpers for the scheduler's pure planning functions and its machine. */

export function schedulerInput(overrides: Partial<Omit<SchedulerInput, 'jobLimits'>> = {}): SchedulerInput {
  return { concurrency: 2, perParentConcurrency: 8, queueCapacity: 4, jobLimits: { heartbeatIntervalMs: 1000 }, ...overrides };
}

/** The machine's own initial context, so the plan tests start where the machine starts. */
export function emptyContext(overrides: Partial<Omit<SchedulerInput, 'jobLimits'>> = {}): SchedulerContext {
  const [snapshot] = initialTransition(schedulerMachine, schedulerInput(overrides));
  return snapshot.context;
}

/**
 * The same snapshot with its own copy of the context. The plans update a context in place (issue
 * 13: no copy per event), so a test that branches one snapshot into two futures forks it first.
 */
export function fork<S extends { context: SchedulerContext }>(snapshot: S): S {
  return { ...snapshot, context: cloneSchedulerContext(snapshot.context) };
}

/**
 * The scheduler machine for graph traversal (`getShortestPaths` explores several events from each
 * snapshot): every transition starts from a fork of the snapshot, so branches never share state.
 */
export const forkingSchedulerMachine: typeof schedulerMachine = Object.create(schedulerMachine, {
  transition: {
    value: (...[snapshot, ...rest]: Parameters<typeof schedulerMachine.transition>) => schedulerMachine.transition(fork(snapshot), ...rest),
  },
}) as typeof schedulerMachine;

/** The context as plain data: what `JSON.stringify` and an inspector show. */
export const view = (context: SchedulerContext): Record<string, unknown> => JSON.parse(JSON.stringify(context)) as Record<string, unknown>;

/** An enqueue request for child `child` of `parent` (run id `run-<child>`, request id `req-<child>`). */
export function request(child: string, parent = 'p1', title?: string): WaitingEnqueue {
  return { requestId: `req-${child}`, runId: `run-${child}`, job: { parentSessionId: parent, childSessionId: child, model: 'm' }, title };
}

export function enqueueEvent(child: string, parent = 'p1') {
  const { requestId, runId, job } = request(child, parent);
  return { type: 'scheduler.enqueue' as const, requestId, runId, job };
}

export function doneEvent(slot: string, child: string, parent = 'p1', status: SpawnJobOutput['status'] = 'completed') {
  const output = { runId: `run-${child}`, parentSessionId: parent, childSessionId: child, status } as SpawnJobOutput;
  return { type: `xstate.done.actor.${slot}` as const, output, actorId: slot };
}

export function errorEvent(slot: string, error: unknown) {
  return { type: `xstate.error.actor.${slot}` as const, error, actorId: slot };
}

export function cancelEvent(childSessionIds: string[], reason: CompletionReason = 'user') {
  return { type: 'scheduler.cancel' as const, childSessionIds, reason };
}

type EffectOf<K extends SchedulerEffect['kind']> = Extract<SchedulerEffect, { kind: K }>;

export function effectsOf<K extends SchedulerEffect['kind']>(plan: Plan, kind: K): EffectOf<K>[] {
  return plan.effects.filter((effect): effect is EffectOf<K> => effect.kind === kind);
}

export const kinds = (plan: Plan): SchedulerEffect['kind'][] => plan.effects.map((effect) => effect.kind);

/** Run ids spawned by a plan (in order), with whether they were spawned cancelled. */
export function spawnedRuns(plan: Plan): { runId: string; slot: string; cancel: CompletionReason | undefined }[] {
  return effectsOf(plan, 'spawn').map((effect) => ({
    runId: effect.input.runId,
    slot: effect.slot,
    cancel: effect.input.cancelRequest?.reason,
  }));
}

/** Run ids queued in order. */
export const queued = (context: SchedulerContext): string[] => context.queue.map((run) => run.runId);
export const waiting = (context: SchedulerContext): string[] => context.waiting.map((run) => run.runId);
export const activeRuns = (context: SchedulerContext): string[] =>
  Object.values(context.active)
    .map((run) => run.runId)
    .sort();
