import type { CompletionReason } from './agent-event.events.js';
import type { ActiveRun, QueuedRun, SchedulerContext, SchedulerInput, WaitingEnqueue } from './scheduler.events.js';
import { RunQueue, WaitingList } from './scheduler.queue.js';
import { HaltedSessions, indexSubtree, isReachedBy, isUnderHalted, lineageOf, unindexSubtree } from './scheduler.tree.js';
import { isRootJob, type SpawnJobInput } from './spawn-job.events.js';

/**
 * One effect the scheduler machine turns into XState actions. The planning functions below take a
 * context, update it in place and return the effects, so every queue rule is testable without an
 * actor, and a spawn, a job end or a cancel costs O(1) (amortized; O(log parents) to pick the next
 * parent) whatever the number of runs in flight.
 */
export type SchedulerEffect =
  | { kind: 'accepted'; run: QueuedRun }
  | { kind: 'started'; run: QueuedRun }
  | { kind: 'enqueued'; requestId: string; runId: string; deduplicated: boolean }
  | { kind: 'rejected'; requestId: string }
  | { kind: 'spawnLane'; lane: string }
  | { kind: 'spawn'; slot: string; input: SpawnJobInput }
  | { kind: 'cancelJob'; slot: string; reason: CompletionReason }
  | { kind: 'discardJob'; slot: string }
  | { kind: 'stopJob'; slot: string }
  /** The run gave its slot back to wait for its children (`job.wait`). */
  | { kind: 'waitJob'; slot: string }
  /** The run holds a slot again (`job.resume`), or had never let it go. */
  | { kind: 'resumeJob'; slot: string }
  /** A `scheduler.resume` is answered: the waiting call may return (the run holds a slot, or has ended). */
  | { kind: 'resumed'; runId: string }
  /** Runs wait for a slot and none is held by a run that could free one: never expected (a safety net). */
  | { kind: 'starved'; queued: number; resuming: number };

/** The context (the one given, updated in place) and the effects to run, in order. */
export interface Plan {
  context: SchedulerContext;
  effects: SchedulerEffect[];
}

/**
 * A record keyed by ids that come from users: no prototype, so an id such as `constructor`,
 * `toString` or `__proto__` is an ordinary key (never an inherited member or a prototype setter).
 *
 * @example
 * const perParent = idRecord<number>(); perParent['constructor'] === undefined; // true
 */
export function idRecord<T>(from?: Readonly<Record<string, T>>): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  if (from) for (const key of Object.keys(from)) record[key] = from[key] as T;
  return record;
}

/** Job actors per lane by default (see `SchedulerInput.laneSize`). */
export const JOB_LANE_SIZE = 64;

/**
 * The lane actor that holds a slot's job actor, or `undefined` for the scheduler's own first
 * `laneSize` slots: slot `job-i` with i ≥ laneSize is in `lane-<⌊i / laneSize⌋ − 1>`.
 *
 * @example
 * laneOfSlot('job-3', 64); // undefined (a child of the scheduler)
 * laneOfSlot('job-130', 64); // 'lane-1'
 */
export function laneOfSlot(slot: string, laneSize: number): string | undefined {
  const index = Number(slot.slice('job-'.length));
  return index < laneSize ? undefined : `lane-${Math.floor(index / laneSize) - 1}`;
}

/**
 * A new, empty context: the scheduler machine's context factory, so every actor owns its own
 * collections (the plans update them in place).
 *
 * @example
 * const context = createSchedulerContext({ concurrency: 4, perParentConcurrency: 2, queueCapacity: 16, jobLimits });
 */
export function createSchedulerContext(input: SchedulerInput): SchedulerContext {
  return {
    ...input,
    laneSize: input.laneSize ?? JOB_LANE_SIZE,
    queue: new RunQueue<QueuedRun>(),
    waiting: new WaitingList<WaitingEnqueue>(),
    active: idRecord(),
    activeByChild: idRecord(),
    slotOfRun: idRecord(),
    running: 0,
    perParent: idRecord(),
    freeSlots: [],
    slotCount: 0,
    waitingRuns: 0,
    resuming: [],
    halted: new HaltedSessions(),
    subtree: new Map(),
    cancelling: new Set(),
  };
}

/**
 * A copy of a context that shares no collection with it, in O(its size): for tests and tools that
 * branch one snapshot into two futures (the plans update a context in place, so two branches need
 * two copies). The runs themselves are never changed, so they are shared.
 *
 * @example
 * const [next] = transition(schedulerMachine, { ...snapshot, context: cloneSchedulerContext(snapshot.context) }, event);
 */
export function cloneSchedulerContext(context: SchedulerContext): SchedulerContext {
  return {
    ...context,
    queue: context.queue.clone(),
    waiting: context.waiting.clone(),
    active: idRecord(context.active),
    activeByChild: idRecord(context.activeByChild),
    slotOfRun: idRecord(context.slotOfRun),
    perParent: idRecord(context.perParent),
    freeSlots: context.freeSlots.slice(),
    resuming: context.resuming.slice(),
    halted: context.halted.clone(),
    subtree: new Map([...context.subtree].map(([id, below]) => [id, new Set(below)])),
    cancelling: new Set(context.cancelling),
  };
}

/** True for runs that count toward a per-parent limit (a root's own run has no parent). */
const hasParentLimit = (run: { job: { parentSessionId: string } }): boolean => !isRootJob(run.job);

/**
 * Spawns a job actor for a run: takes a slot (a recycled one first; a new slot that opens a lane
 * spawns the lane first) and counts it unless it is spawned cancelled.
 */
function spawn(context: SchedulerContext, effects: SchedulerEffect[], run: QueuedRun, cancel: CompletionReason | undefined): void {
  let slot = context.freeSlots.pop();
  if (slot === undefined) {
    const index = context.slotCount;
    slot = `job-${index}`;
    context.slotCount += 1;
    if (index >= context.laneSize && index % context.laneSize === 0)
      effects.push({ kind: 'spawnLane', lane: `lane-${index / context.laneSize - 1}` });
  }
  const counted = cancel === undefined;
  const parentId = run.job.parentSessionId;
  context.active[slot] = { runId: run.runId, job: run.job, slot, counted, lineage: run.lineage } satisfies ActiveRun;
  context.activeByChild[run.job.childSessionId] = slot;
  context.slotOfRun[run.runId] = slot;
  if (counted) {
    context.running += 1;
    if (hasParentLimit(run)) context.perParent[parentId] = (context.perParent[parentId] ?? 0) + 1;
  }
  const input: SpawnJobInput = {
    job: run.job,
    runId: run.runId,
    limits: context.jobLimits,
    cancelRequest: cancel ? { reason: cancel } : undefined,
  };
  effects.push({ kind: 'spawn', slot, input });
}

/** Finds the run (queued, waiting or active) of a child session, if any. O(1). */
export function findRunOfChild(context: SchedulerContext, childSessionId: string): string | undefined {
  const slot = context.activeByChild[childSessionId];
  return (
    (slot === undefined ? undefined : context.active[slot]?.runId) ??
    context.queue.ofChild(childSessionId)?.runId ??
    context.waiting.ofChild(childSessionId)?.runId
  );
}

/** Moves waiting enqueues into free queue room, then starts queued runs under the limits. */
export function planDispatch(plan: Plan): Plan {
  const effects = plan.effects.slice();
  dispatch(plan.context, effects);
  return { context: plan.context, effects };
}

/**
 * Admits waiting enqueues into the queue's room, then starts queued runs while `running` is under
 * `concurrency`: FIFO, skipping parents at their limit (they do not block other parents queued
 * behind them). A loop, not a recursion: one job end may let thousands of runs start.
 */
function dispatch(context: SchedulerContext, effects: SchedulerEffect[]): void {
  // Runs whose wait is over come first, even while stopping (they must finish for a stop to end).
  resumeWaiting(context, effects);
  if (context.stopMode !== undefined) return;
  dispatchQueued(context, effects);
  if (context.running === 0 && (context.queue.length > 0 || context.resuming.length > 0)) {
    effects.push({ kind: 'starved', queued: context.queue.length, resuming: context.resuming.length });
  }
}

/** True when a run of this parent may take a slot now (a root's own run has no parent limit). */
function underParentLimit(context: SchedulerContext, parentId: string): boolean {
  return parentId === '' || (context.perParent[parentId] ?? 0) < context.perParentConcurrency;
}

/** Gives slots to waiting runs whose wait is over, in order, under both limits. */
function resumeWaiting(context: SchedulerContext, effects: SchedulerEffect[]): void {
  if (context.resuming.length === 0) return;
  const left: string[] = [];
  for (const slot of context.resuming) {
    const run = context.active[slot];
    if (run === undefined || !run.waiting) continue;
    if (context.running >= context.concurrency || !underParentLimit(context, run.job.parentSessionId)) {
      left.push(slot);
      continue;
    }
    run.waiting = false;
    run.counted = true;
    context.waitingRuns -= 1;
    context.running += 1;
    if (hasParentLimit(run)) context.perParent[run.job.parentSessionId] = (context.perParent[run.job.parentSessionId] ?? 0) + 1;
    effects.push({ kind: 'resumeJob', slot }, { kind: 'resumed', runId: run.runId });
  }
  context.resuming = left;
}

/** Frees the slot a run holds (its counts), so queued runs may take it. */
function releaseSlot(context: SchedulerContext, run: ActiveRun): void {
  run.counted = false;
  context.running -= 1;
  if (!hasParentLimit(run)) return;
  const parentId = run.job.parentSessionId;
  const left = (context.perParent[parentId] ?? 1) - 1;
  if (left > 0) context.perParent[parentId] = left;
  else delete context.perParent[parentId];
  // The parent is under its limit again: its queued runs are candidates again.
  context.queue.unblock(parentId);
}

/**
 * `scheduler.yield`: a running run waits for its children. It gives its slot back (limits count
 * only runs that are not waiting) and its job actor moves to `running.slot.waiting`.
 */
export function planYield(context: SchedulerContext, runId: string): Plan {
  const slot = context.slotOfRun[runId];
  const run = slot === undefined ? undefined : context.active[slot];
  if (run === undefined || !run.counted || run.waiting) return { context, effects: [] };
  releaseSlot(context, run);
  run.waiting = true;
  context.waitingRuns += 1;
  const effects: SchedulerEffect[] = [{ kind: 'waitJob', slot: run.slot }];
  dispatch(context, effects);
  return { context, effects };
}

/**
 * `scheduler.resume`: a waiting run's wait is over. It takes a slot again ahead of every queued
 * run (at once when there is room, else at the next free slot); a run that is not waiting (it
 * holds its slot, or has ended) is answered at once.
 */
export function planResume(context: SchedulerContext, runId: string): Plan {
  const slot = context.slotOfRun[runId];
  const run = slot === undefined ? undefined : context.active[slot];
  if (run === undefined || !run.waiting) return { context, effects: [{ kind: 'resumed', runId }] };
  if (!context.resuming.includes(run.slot)) context.resuming.push(run.slot);
  const effects: SchedulerEffect[] = [];
  dispatch(context, effects);
  return { context, effects };
}

/** The queue part of {@link dispatch}. */
function dispatchQueued(context: SchedulerContext, effects: SchedulerEffect[]): void {
  const { queue, waiting } = context;
  const canStart = (parentId: string): boolean => underParentLimit(context, parentId);
  for (;;) {
    // Admit waiting enqueues into the room the queue has, oldest first.
    while (waiting.length > 0 && queue.length < context.queueCapacity) {
      const request = waiting.shift() as WaitingEnqueue;
      const run = toQueued(request);
      queue.push(run);
      effects.push({ kind: 'started', run }, { kind: 'enqueued', requestId: request.requestId, runId: request.runId, deduplicated: false });
    }
    // Start the earliest queued run whose parent is under its limit, while there is room.
    let started = 0;
    while (context.running < context.concurrency) {
      const run = queue.take(canStart);
      if (run === undefined) break;
      spawn(context, effects, run, undefined);
      started += 1;
    }
    if (started === 0 || waiting.length === 0 || queue.length >= context.queueCapacity) return;
  }
}

function toQueued(run: WaitingEnqueue): QueuedRun {
  return { runId: run.runId, job: run.job, title: run.title, lineage: run.lineage };
}

/**
 * `enqueue`: de-duplicate per child, queue (or wait for room), then dispatch. A run of a session
 * clears that session's halt mark (it was asked to run again); a run under a halted ancestor is
 * announced and ends `cancelled` (reason `parent`) at once, without its agent being called.
 */
export function planEnqueue(context: SchedulerContext, request: WaitingEnqueue): Plan {
  if (context.stopMode !== undefined) return { context, effects: [{ kind: 'rejected', requestId: request.requestId }] };
  const existing = findRunOfChild(context, request.job.childSessionId);
  if (existing !== undefined) {
    return { context, effects: [{ kind: 'enqueued', requestId: request.requestId, runId: existing, deduplicated: true }] };
  }
  const effects: SchedulerEffect[] = [];
  const run = toQueued(request);
  context.halted.delete(run.job.childSessionId);
  indexSubtree(context.subtree, run);
  if (isUnderHalted(context.halted, lineageOf(run))) {
    context.halted.add(run.job.childSessionId);
    effects.push({ kind: 'started', run }, { kind: 'enqueued', requestId: request.requestId, runId: request.runId, deduplicated: false });
    spawn(context, effects, run, 'parent');
  } else if (context.queue.length >= context.queueCapacity || context.waiting.length > 0) {
    context.waiting.push(request);
    effects.push({ kind: 'accepted', run });
  } else {
    context.queue.push(run);
    effects.push({ kind: 'started', run }, { kind: 'enqueued', requestId: request.requestId, runId: request.runId, deduplicated: false });
  }
  dispatch(context, effects);
  return { context, effects };
}

/** The listed runs of `ids` in their list's order. O(k log k) for k ids. */
function inOrder<T extends QueuedRun>(list: RunQueue<T> | WaitingList<T>, ids: ReadonlySet<string>): T[] {
  const hits: [number, T][] = [];
  for (const id of ids) {
    const run = list.ofChild(id);
    if (run !== undefined) hits.push([list.positionOf(run) as number, run]);
  }
  return hits.sort((a, b) => a[0] - b[0]).map(([, run]) => run);
}

/**
 * Cancels the runs of these sessions: queued and waiting runs end `cancelled` without running
 * (their job actor only persists the status and publishes the completion); active runs (holding
 * a slot or waiting for their children) get `job.cancel`. O(k log k) for k sessions.
 */
function cancelRuns(
  context: SchedulerContext,
  effects: SchedulerEffect[],
  childSessionIds: ReadonlySet<string>,
  reason: CompletionReason,
): void {
  const waitingHit = inOrder(context.waiting, childSessionIds);
  const queuedHit = inOrder(context.queue, childSessionIds);
  for (const run of waitingHit) {
    context.waiting.remove(run);
    effects.push(
      { kind: 'started', run: toQueued(run) },
      { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false },
    );
  }
  for (const run of queuedHit) context.queue.remove(run);
  for (const run of queuedHit) spawn(context, effects, run, reason);
  for (const run of waitingHit) spawn(context, effects, toQueued(run), reason);
  for (const id of childSessionIds) {
    const slot = context.activeByChild[id];
    const active = slot === undefined ? undefined : context.active[slot];
    if (active !== undefined && (active.counted || active.waiting === true)) {
      context.cancelling.add(active.slot);
      effects.push({ kind: 'cancelJob', slot: active.slot, reason });
    }
  }
}

/** True when a session's run in flight is not already ending cancelled (queued, waiting, or running and not told to cancel). */
export function isCancellable(context: SchedulerContext, sessionId: string): boolean {
  const slot = context.activeByChild[sessionId];
  const active = slot === undefined ? undefined : context.active[slot];
  if (active !== undefined) return (active.counted || active.waiting === true) && !context.cancelling.has(active.slot);
  return context.queue.ofChild(sessionId) !== undefined || context.waiting.ofChild(sessionId) !== undefined;
}

/** The sessions below `sessionId` whose run in flight a `cancelTree` would cancel now. */
export function cancellableBelow(context: SchedulerContext, sessionId: string): string[] {
  return [...(context.subtree.get(sessionId) ?? [])].filter((id) => isCancellable(context, id));
}

/** The run (queued, waiting for room, or active) a session has in flight. */
function runInFlight(context: SchedulerContext, sessionId: string): QueuedRun | undefined {
  const slot = context.activeByChild[sessionId];
  return (slot === undefined ? undefined : context.active[slot]) ?? context.queue.ofChild(sessionId) ?? context.waiting.ofChild(sessionId);
}

/**
 * A session ended (or was stopped): mark it halted, so nothing new starts under it, and cancel
 * (reason `parent`) the runs in flight below it that its end reaches — with `everything`
 * (`cancelTree`) all of them, else those whose policy is `cancel` and that no abandoning session
 * shields. The reached sessions are halted too, so a spawn racing the cancel never runs.
 */
function haltSubtree(context: SchedulerContext, effects: SchedulerEffect[], sessionId: string, everything: boolean): number {
  const remember = context.rememberHalts !== false;
  if (remember) context.halted.add(sessionId);
  const below = context.subtree.get(sessionId);
  if (below === undefined) return 0;
  const reached = new Set<string>();
  for (const id of below) {
    const run = runInFlight(context, id);
    if (run !== undefined && isReachedBy(run, sessionId, everything)) reached.add(id);
  }
  let cancelled = 0;
  for (const id of reached) {
    if (remember) context.halted.add(id);
    if (isCancellable(context, id)) cancelled += 1;
  }
  cancelRuns(context, effects, reached, 'parent');
  return cancelled;
}

/**
 * `cancel` / `deleteSession` / stop: cancels the runs of these sessions. A user's cancel or a
 * delete also halts each session, so its end reaches its subtree at once (see `haltSubtree`);
 * a stop (`shutdown`) cancels everything anyway.
 */
export function planCancel(context: SchedulerContext, childSessionIds: ReadonlySet<string>, reason: CompletionReason): Plan {
  const effects: SchedulerEffect[] = [];
  cancelRuns(context, effects, childSessionIds, reason);
  if (reason !== 'shutdown') for (const id of childSessionIds) haltSubtree(context, effects, id, false);
  // Removing queued runs opened room: admit waiting enqueues (a no-op while stopping).
  dispatch(context, effects);
  return { context, effects };
}

/**
 * `cancelTree`: halts the session and cancels every run in flight below it (reason `parent`);
 * `cancelled` counts the runs this cancel ended (not those already ending cancelled).
 */
export function planCancelTree(context: SchedulerContext, sessionId: string): Plan & { cancelled: number } {
  const effects: SchedulerEffect[] = [];
  const cancelled = haltSubtree(context, effects, sessionId, true);
  dispatch(context, effects);
  return { context, effects, cancelled };
}

/**
 * Drops runs that were never announced (their `sub_session_started` could not be written, so
 * their `enqueue` was rejected): queued ones leave the queue, a spawned one gets `job.discard`
 * and ends silently. Keyed by run id, so a newer run of the same child is never touched.
 */
export function planDiscard(context: SchedulerContext, runIds: ReadonlySet<string>): Plan {
  const effects: SchedulerEffect[] = [];
  for (const runId of runIds) {
    const queued = context.queue.ofRun(runId);
    if (queued !== undefined) {
      context.queue.remove(queued);
      unindexSubtree(context.subtree, queued);
    }
    const waiting = context.waiting.ofRun(runId);
    if (waiting !== undefined) {
      context.waiting.remove(waiting);
      unindexSubtree(context.subtree, waiting);
    }
    const slot = context.slotOfRun[runId];
    if (slot !== undefined && context.active[slot]?.runId === runId) effects.push({ kind: 'discardJob', slot });
  }
  dispatch(context, effects);
  return { context, effects };
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
  context.stopMode = mode;
  const targets = new Set<string>();
  for (const run of context.queue) targets.add(run.job.childSessionId);
  for (const run of context.waiting) targets.add(run.job.childSessionId);
  if (mode === 'cancel') for (const id of Object.keys(context.activeByChild)) targets.add(id);
  return planCancel(context, targets, 'shutdown');
}

/**
 * A job actor ended (or crashed): free its slot and limits, stop it, dispatch the next runs. When
 * it ended `cancelled` or `error` (`haltsSubtree`), its end reaches its subtree first.
 */
export function planJobEnd(context: SchedulerContext, slot: string, haltsSubtree = false): Plan & { ended?: ActiveRun | undefined } {
  const ended = context.active[slot];
  if (!ended) return { context, effects: [] };
  const { childSessionId } = ended.job;
  delete context.active[slot];
  if (context.activeByChild[childSessionId] === slot) delete context.activeByChild[childSessionId];
  if (context.slotOfRun[ended.runId] === slot) delete context.slotOfRun[ended.runId];
  unindexSubtree(context.subtree, ended);
  context.cancelling.delete(slot);
  if (ended.counted) releaseSlot(context, ended);
  if (ended.waiting === true) {
    context.waitingRuns -= 1;
    ended.waiting = false;
    const at = context.resuming.indexOf(slot);
    if (at >= 0) context.resuming.splice(at, 1);
  }
  context.freeSlots.push(slot);
  const effects: SchedulerEffect[] = [{ kind: 'stopJob', slot }];
  if (haltsSubtree && context.stopMode === undefined) haltSubtree(context, effects, childSessionId, false);
  dispatch(context, effects);
  return { context, effects, ended };
}

/** True once a stopping scheduler has nothing left in flight. O(1): every slot not free is active. */
export function isIdle(context: SchedulerContext): boolean {
  return context.queue.length === 0 && context.waiting.length === 0 && context.freeSlots.length === context.slotCount;
}
