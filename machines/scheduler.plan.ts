import type { CompletionReason } from './agent-event.events.js';
import type { ActiveRun, QueuedRun, SchedulerContext, WaitingEnqueue } from './scheduler.events.js';
import type { SpawnJobInput } from './spawn-job.events.js';

/**
 * One effect the scheduler machine turns into XState actions. The planning functions below are
 * pure: they take a context and return the next one plus the effects, so every queue rule is
 * testable without an actor.
 */
export type SchedulerEffect =
  | { kind: 'started'; run: QueuedRun }
  | { kind: 'enqueued'; requestId: string; runId: string; deduplicated: boolean }
  | { kind: 'rejected'; requestId: string }
  | { kind: 'spawn'; slot: string; input: SpawnJobInput }
  | { kind: 'cancelJob'; slot: string; reason: CompletionReason }
  | { kind: 'stopJob'; slot: string };

/** The next context and the effects to run. */
export interface Plan {
  context: SchedulerContext;
  effects: SchedulerEffect[];
}

function takeSlot(context: SchedulerContext): [string, Pick<SchedulerContext, 'freeSlots' | 'slotCount'>] {
  const reused = context.freeSlots.at(-1);
  if (reused !== undefined) return [reused, { freeSlots: context.freeSlots.slice(0, -1), slotCount: context.slotCount }];
  return [`job-${context.slotCount}`, { freeSlots: context.freeSlots, slotCount: context.slotCount + 1 }];
}

function spawnRun(plan: Plan, run: QueuedRun, cancel: CompletionReason | undefined): Plan {
  const [slot, slots] = takeSlot(plan.context);
  const counted = cancel === undefined;
  const parentId = run.job.parentSessionId;
  const active: ActiveRun = { runId: run.runId, job: run.job, slot, counted };
  const context: SchedulerContext = {
    ...plan.context,
    ...slots,
    active: { ...plan.context.active, [slot]: active },
    activeByChild: { ...plan.context.activeByChild, [run.job.childSessionId]: slot },
    running: plan.context.running + (counted ? 1 : 0),
    perParent: counted ? { ...plan.context.perParent, [parentId]: (plan.context.perParent[parentId] ?? 0) + 1 } : plan.context.perParent,
  };
  const input: SpawnJobInput = { job: run.job, runId: run.runId, limits: context.jobLimits, cancelRequest: cancel ? { reason: cancel } : undefined };
  return { context, effects: [...plan.effects, { kind: 'spawn', slot, input }] };
}

/** Finds the run (queued, waiting or active) of a child session, if any. */
export function findRunOfChild(context: SchedulerContext, childSessionId: string): string | undefined {
  const slot = context.activeByChild[childSessionId];
  return (
    (slot === undefined ? undefined : context.active[slot]?.runId) ??
    context.queue.find((run) => run.job.childSessionId === childSessionId)?.runId ??
    context.waiting.find((run) => run.job.childSessionId === childSessionId)?.runId
  );
}

/** Moves waiting enqueues into free queue room, then starts queued runs under the limits. */
export function planDispatch(plan: Plan): Plan {
  let { context } = plan;
  const effects = [...plan.effects];
  if (context.waiting.length > 0 && context.queue.length < context.queueCapacity && context.stopMode === undefined) {
    const room = context.queueCapacity - context.queue.length;
    const admitted = context.waiting.slice(0, room);
    context = { ...context, waiting: context.waiting.slice(room), queue: [...context.queue, ...admitted.map(toQueued)] };
    for (const run of admitted) {
      effects.push({ kind: 'started', run: toQueued(run) }, { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false });
    }
  }
  let next: Plan = { context, effects };
  if (next.context.stopMode !== undefined) return next;
  while (next.context.running < next.context.concurrency && next.context.queue.length > 0) {
    const index = next.context.queue.findIndex(
      (run) => (next.context.perParent[run.job.parentSessionId] ?? 0) < next.context.perParentConcurrency,
    );
    if (index < 0) break;
    const run = next.context.queue[index] as QueuedRun;
    const queue = next.context.queue.slice();
    queue.splice(index, 1);
    next = spawnRun({ context: { ...next.context, queue }, effects: next.effects }, run, undefined);
  }
  // Room may have opened again in the queue.
  if (next.context.waiting.length > 0 && next.context.queue.length < next.context.queueCapacity) return planDispatch(next);
  return next;
}

function toQueued(run: WaitingEnqueue): QueuedRun {
  return { runId: run.runId, job: run.job, title: run.title };
}

/** `enqueue`: de-duplicate per child, queue (or wait for room), then dispatch. */
export function planEnqueue(context: SchedulerContext, request: WaitingEnqueue): Plan {
  if (context.stopMode !== undefined) return { context, effects: [{ kind: 'rejected', requestId: request.requestId }] };
  const existing = findRunOfChild(context, request.job.childSessionId);
  if (existing !== undefined) {
    return { context, effects: [{ kind: 'enqueued', requestId: request.requestId, runId: existing, deduplicated: true }] };
  }
  if (context.queue.length >= context.queueCapacity || context.waiting.length > 0) {
    return planDispatch({ context: { ...context, waiting: [...context.waiting, request] }, effects: [] });
  }
  const run = toQueued(request);
  return planDispatch({
    context: { ...context, queue: [...context.queue, run] },
    effects: [
      { kind: 'started', run },
      { kind: 'enqueued', requestId: request.requestId, runId: request.runId, deduplicated: false },
    ],
  });
}

/**
 * `cancel` / `cancelTree` / stop: queued and waiting runs end `cancelled` without running (their
 * job actor only persists the status and publishes the completion); active runs get `job.cancel`.
 */
export function planCancel(context: SchedulerContext, childSessionIds: ReadonlySet<string>, reason: CompletionReason): Plan {
  let plan: Plan = { context, effects: [] };
  const waitingHit = context.waiting.filter((run) => childSessionIds.has(run.job.childSessionId));
  if (waitingHit.length > 0) {
    plan = { ...plan, context: { ...plan.context, waiting: plan.context.waiting.filter((run) => !childSessionIds.has(run.job.childSessionId)) } };
    for (const run of waitingHit) {
      plan.effects.push({ kind: 'started', run: toQueued(run) }, { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false });
    }
  }
  const queuedHit = [...plan.context.queue.filter((run) => childSessionIds.has(run.job.childSessionId)), ...waitingHit.map(toQueued)];
  if (queuedHit.length > 0) {
    plan = { ...plan, context: { ...plan.context, queue: plan.context.queue.filter((run) => !childSessionIds.has(run.job.childSessionId)) } };
    for (const run of queuedHit) plan = spawnRun(plan, run, reason);
  }
  for (const id of childSessionIds) {
    const slot = plan.context.activeByChild[id];
    const active = slot === undefined ? undefined : plan.context.active[slot];
    if (active?.counted) plan.effects.push({ kind: 'cancelJob', slot: active.slot, reason });
  }
  return plan;
}

/** Every child session with a queued, waiting or running run. */
export function childrenInFlight(context: SchedulerContext): Set<string> {
  const ids = new Set<string>(Object.keys(context.activeByChild));
  for (const run of context.queue) ids.add(run.job.childSessionId);
  for (const run of context.waiting) ids.add(run.job.childSessionId);
  return ids;
}

/**
 * `stop`: queued runs and waiting enqueues end `cancelled` (reason `shutdown`); with `cancel`,
 * running ones are cancelled too. New enqueues are rejected from here on.
 */
export function planStop(context: SchedulerContext, mode: 'drain' | 'cancel'): Plan {
  const stopping: SchedulerContext = { ...context, stopMode: mode };
  const targets = new Set<string>([...context.queue, ...context.waiting].map((run) => run.job.childSessionId));
  if (mode === 'cancel') for (const id of Object.keys(context.activeByChild)) targets.add(id);
  return planCancel(stopping, targets, 'shutdown');
}

/** A job actor ended (or crashed): free its slot and limits, stop it, dispatch the next runs. */
export function planJobEnd(context: SchedulerContext, slot: string): Plan & { ended?: ActiveRun | undefined } {
  const ended = context.active[slot];
  if (!ended) return { context, effects: [] };
  const active = { ...context.active };
  delete active[slot];
  const activeByChild = { ...context.activeByChild };
  if (activeByChild[ended.job.childSessionId] === slot) delete activeByChild[ended.job.childSessionId];
  let perParent = context.perParent;
  if (ended.counted) {
    const left = (perParent[ended.job.parentSessionId] ?? 1) - 1;
    perParent = { ...perParent };
    if (left > 0) perParent[ended.job.parentSessionId] = left;
    else delete perParent[ended.job.parentSessionId];
  }
  const next: SchedulerContext = {
    ...context,
    active,
    activeByChild,
    perParent,
    running: context.running - (ended.counted ? 1 : 0),
    freeSlots: [...context.freeSlots, slot],
  };
  return { ...planDispatch({ context: next, effects: [{ kind: 'stopJob', slot }] }), ended };
}

/** True once a stopping scheduler has nothing left in flight. */
export function isIdle(context: SchedulerContext): boolean {
  return context.queue.length === 0 && context.waiting.length === 0 && Object.keys(context.active).length === 0;
}
