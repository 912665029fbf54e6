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

/**
 * A working copy of the context: every collection is copied once per plan, then changed in
 * place, so starting N runs costs O(N) rather than O(N²) (the caller's context is never touched).
 */
function draftOf(context: SchedulerContext): SchedulerContext {
  return {
    ...context,
    queue: context.queue.slice(),
    waiting: context.waiting.slice(),
    active: { ...context.active },
    activeByChild: { ...context.activeByChild },
    perParent: { ...context.perParent },
    freeSlots: context.freeSlots.slice(),
  };
}

/** Spawns a job actor for a run on a draft context (mutates the draft and the effects). */
function spawnOnDraft(draft: SchedulerContext, effects: SchedulerEffect[], run: QueuedRun, cancel: CompletionReason | undefined): void {
  let slot = draft.freeSlots.pop();
  if (slot === undefined) {
    slot = `job-${draft.slotCount}`;
    draft.slotCount += 1;
  }
  const counted = cancel === undefined;
  const parentId = run.job.parentSessionId;
  draft.active[slot] = { runId: run.runId, job: run.job, slot, counted } satisfies ActiveRun;
  draft.activeByChild[run.job.childSessionId] = slot;
  if (counted) {
    draft.running += 1;
    draft.perParent[parentId] = (draft.perParent[parentId] ?? 0) + 1;
  }
  const input: SpawnJobInput = { job: run.job, runId: run.runId, limits: draft.jobLimits, cancelRequest: cancel ? { reason: cancel } : undefined };
  effects.push({ kind: 'spawn', slot, input });
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
  const draft = draftOf(plan.context);
  const effects = plan.effects.slice();
  dispatchOnDraft(draft, effects);
  return { context: draft, effects };
}

function dispatchOnDraft(draft: SchedulerContext, effects: SchedulerEffect[]): void {
  if (draft.stopMode !== undefined) return;
  for (;;) {
    // Admit waiting enqueues into the room the queue has.
    if (draft.waiting.length > 0 && draft.queue.length < draft.queueCapacity) {
      const admitted = draft.waiting.splice(0, draft.queueCapacity - draft.queue.length);
      for (const run of admitted) {
        const queued = toQueued(run);
        draft.queue.push(queued);
        effects.push({ kind: 'started', run: queued }, { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false });
      }
    }
    // Start queued runs, FIFO, skipping parents at their cap.
    let started = 0;
    if (draft.running < draft.concurrency && draft.queue.length > 0) {
      const kept: QueuedRun[] = [];
      for (const run of draft.queue) {
        const parentRunning = draft.perParent[run.job.parentSessionId] ?? 0;
        if (draft.running < draft.concurrency && parentRunning < draft.perParentConcurrency) {
          spawnOnDraft(draft, effects, run, undefined);
          started += 1;
        } else kept.push(run);
      }
      draft.queue = kept;
    }
    if (started === 0 || draft.waiting.length === 0 || draft.queue.length >= draft.queueCapacity) return;
  }
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
  const draft = draftOf(context);
  const effects: SchedulerEffect[] = [];
  const hit = (run: QueuedRun) => childSessionIds.has(run.job.childSessionId);
  const waitingHit = draft.waiting.filter(hit);
  if (waitingHit.length > 0) {
    draft.waiting = draft.waiting.filter((run) => !hit(run));
    for (const run of waitingHit) {
      effects.push({ kind: 'started', run: toQueued(run) }, { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false });
    }
  }
  const queuedHit = [...draft.queue.filter(hit), ...waitingHit.map(toQueued)];
  if (queuedHit.length > 0) {
    draft.queue = draft.queue.filter((run) => !hit(run));
    for (const run of queuedHit) spawnOnDraft(draft, effects, run, reason);
  }
  for (const id of childSessionIds) {
    const slot = draft.activeByChild[id];
    const active = slot === undefined ? undefined : draft.active[slot];
    if (active?.counted) effects.push({ kind: 'cancelJob', slot: active.slot, reason });
  }
  // Removing queued runs opened room: admit waiting enqueues (a no-op while stopping).
  dispatchOnDraft(draft, effects);
  return { context: draft, effects };
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
