/**
 * The scheduler's queue rules as they were before issue 13 (copy-on-write plans over plain arrays
 * and records, one copy of each written collection per event): kept verbatim as the reference the
 * in-place plans (`machines/scheduler.plan.ts`) are checked against, effect for effect, in
 * `scheduler.equivalence.test.ts`. Quadratic for large N, so only for small random scenarios.
 */
import type { CompletionReason } from '../../machines/agent-event.events.js';
import type { ActiveRun, QueuedRun, SchedulerInput, StopMode, WaitingEnqueue } from '../../machines/scheduler.events.js';
import type { SchedulerEffect } from '../../machines/scheduler.plan.js';
import type { SpawnJobInput } from '../../machines/spawn-job.events.js';

/** The scheduler context before issue 13. */
export interface SchedulerContext extends SchedulerInput {
  queue: QueuedRun[];
  waiting: WaitingEnqueue[];
  active: Record<string, ActiveRun>;
  activeByChild: Record<string, string>;
  running: number;
  perParent: Record<string, number>;
  freeSlots: string[];
  slotCount: number;
  stopMode?: StopMode | undefined;
}

/** The machine's initial context before issue 13. */
export function emptyReferenceContext(input: SchedulerInput): SchedulerContext {
  return {
    ...input,
    queue: [],
    waiting: [],
    active: idRecord(),
    activeByChild: idRecord(),
    running: 0,
    perParent: idRecord(),
    freeSlots: [],
    slotCount: 0,
  };
}

/** The next context and the effects to run. */
export interface Plan {
  context: SchedulerContext;
  effects: SchedulerEffect[];
}

type Collection = 'queue' | 'waiting' | 'active' | 'activeByChild' | 'perParent' | 'freeSlots';

/**
 * A record keyed by ids that come from users: no prototype, so an id such as `constructor`,
 * `toString` or `__proto__` is an ordinary key (never an inherited member or a prototype setter).
 *
 * @example
 * const perParent = idRecord<number>(); perParent['constructor'] === undefined; // true
 */
function idRecord<T>(from?: Readonly<Record<string, T>>): Record<string, T> {
  const record = Object.create(null) as Record<string, T>;
  if (from) for (const key of Object.keys(from)) record[key] = from[key] as T;
  return record;
}

/**
 * A copy-on-write working copy of the context: a collection is copied the first time a plan
 * writes to it, then changed in place, so a plan costs O(what it touches) and starting N runs
 * costs O(N). The caller's context is never changed (plans stay pure).
 */
class Draft {
  readonly context: SchedulerContext;
  readonly #copied = new Set<Collection>();

  constructor(base: SchedulerContext) {
    this.context = { ...base };
  }

  /** The writable copy of a collection. */
  write<K extends Collection>(key: K): SchedulerContext[K] {
    if (!this.#copied.has(key)) {
      const value = this.context[key];
      this.context[key] = (Array.isArray(value) ? value.slice() : idRecord(value as Record<string, unknown>)) as SchedulerContext[K];
      this.#copied.add(key);
    }
    return this.context[key];
  }

  /** Replaces a collection with a fresh value the draft owns. */
  replace<K extends Collection>(key: K, value: SchedulerContext[K]): void {
    this.context[key] = value;
    this.#copied.add(key);
  }
}

/** Spawns a job actor for a run on a draft (mutates the draft and the effects). */
function spawnOnDraft(draft: Draft, effects: SchedulerEffect[], run: QueuedRun, cancel: CompletionReason | undefined): void {
  const context = draft.context;
  let slot = context.freeSlots.length > 0 ? draft.write('freeSlots').pop() : undefined;
  if (slot === undefined) {
    slot = `job-${context.slotCount}`;
    context.slotCount += 1;
  }
  const counted = cancel === undefined;
  const parentId = run.job.parentSessionId;
  draft.write('active')[slot] = { runId: run.runId, job: run.job, slot, counted } satisfies ActiveRun;
  draft.write('activeByChild')[run.job.childSessionId] = slot;
  if (counted) {
    context.running += 1;
    const perParent = draft.write('perParent');
    perParent[parentId] = (perParent[parentId] ?? 0) + 1;
  }
  const input: SpawnJobInput = {
    job: run.job,
    runId: run.runId,
    limits: context.jobLimits,
    cancelRequest: cancel ? { reason: cancel } : undefined,
  };
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
  const draft = new Draft(plan.context);
  const effects = plan.effects.slice();
  dispatchOnDraft(draft, effects);
  return { context: draft.context, effects };
}

function dispatchOnDraft(draft: Draft, effects: SchedulerEffect[]): void {
  const context = draft.context;
  if (context.stopMode !== undefined) return;
  for (;;) {
    // Admit waiting enqueues into the room the queue has.
    const room = context.queueCapacity - context.queue.length;
    if (context.waiting.length > 0 && room > 0) {
      const admitted = context.waiting.slice(0, room);
      draft.replace('waiting', context.waiting.slice(room));
      const queue = draft.write('queue');
      for (const run of admitted) {
        const queued = toQueued(run);
        queue.push(queued);
        effects.push(
          { kind: 'started', run: queued },
          { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false },
        );
      }
    }
    // Start queued runs, FIFO, skipping parents at their cap.
    let started = 0;
    if (context.running < context.concurrency && context.queue.length > 0) {
      const kept: QueuedRun[] = [];
      let index = 0;
      for (; index < context.queue.length && context.running < context.concurrency; index++) {
        const run = context.queue[index] as QueuedRun;
        if ((context.perParent[run.job.parentSessionId] ?? 0) < context.perParentConcurrency) {
          spawnOnDraft(draft, effects, run, undefined);
          started += 1;
        } else kept.push(run);
      }
      if (started > 0) draft.replace('queue', index < context.queue.length ? kept.concat(context.queue.slice(index)) : kept);
    }
    if (started === 0 || context.waiting.length === 0 || context.queue.length >= context.queueCapacity) return;
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
    return planDispatch({
      context: { ...context, waiting: [...context.waiting, request] },
      effects: [{ kind: 'accepted', run: toQueued(request) }],
    });
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
  const draft = new Draft(context);
  const effects: SchedulerEffect[] = [];
  const hit = (run: QueuedRun) => childSessionIds.has(run.job.childSessionId);
  const waitingHit = context.waiting.filter(hit);
  if (waitingHit.length > 0) {
    draft.replace(
      'waiting',
      context.waiting.filter((run) => !hit(run)),
    );
    for (const run of waitingHit) {
      effects.push(
        { kind: 'started', run: toQueued(run) },
        { kind: 'enqueued', requestId: run.requestId, runId: run.runId, deduplicated: false },
      );
    }
  }
  const queuedHit = [...context.queue.filter(hit), ...waitingHit.map(toQueued)];
  if (queuedHit.length > 0) {
    draft.replace(
      'queue',
      context.queue.filter((run) => !hit(run)),
    );
    for (const run of queuedHit) spawnOnDraft(draft, effects, run, reason);
  }
  for (const id of childSessionIds) {
    const slot = draft.context.activeByChild[id];
    const active = slot === undefined ? undefined : draft.context.active[slot];
    if (active?.counted) effects.push({ kind: 'cancelJob', slot: active.slot, reason });
  }
  // Removing queued runs opened room: admit waiting enqueues (a no-op while stopping).
  dispatchOnDraft(draft, effects);
  return { context: draft.context, effects };
}

/**
 * Drops runs that were never announced (their `sub_session_started` could not be written, so
 * their `enqueue` was rejected): queued ones leave the queue, a spawned one gets `job.discard`
 * and ends silently. Keyed by run id, so a newer run of the same child is never touched.
 */
export function planDiscard(context: SchedulerContext, runIds: ReadonlySet<string>): Plan {
  const draft = new Draft(context);
  const effects: SchedulerEffect[] = [];
  if (context.queue.some((run) => runIds.has(run.runId)))
    draft.replace(
      'queue',
      context.queue.filter((run) => !runIds.has(run.runId)),
    );
  if (context.waiting.some((run) => runIds.has(run.runId)))
    draft.replace(
      'waiting',
      context.waiting.filter((run) => !runIds.has(run.runId)),
    );
  for (const slot of Object.keys(context.active)) {
    const active = context.active[slot];
    if (active && runIds.has(active.runId)) effects.push({ kind: 'discardJob', slot });
  }
  dispatchOnDraft(draft, effects);
  return { context: draft.context, effects };
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
  const draft = new Draft(context);
  delete draft.write('active')[slot];
  if (context.activeByChild[ended.job.childSessionId] === slot) delete draft.write('activeByChild')[ended.job.childSessionId];
  if (ended.counted) {
    const perParent = draft.write('perParent');
    const left = (perParent[ended.job.parentSessionId] ?? 1) - 1;
    if (left > 0) perParent[ended.job.parentSessionId] = left;
    else delete perParent[ended.job.parentSessionId];
    draft.context.running -= 1;
  }
  draft.write('freeSlots').push(slot);
  const effects: SchedulerEffect[] = [{ kind: 'stopJob', slot }];
  dispatchOnDraft(draft, effects);
  return { context: draft.context, effects, ended };
}

/** True once a stopping scheduler has nothing left in flight. */
export function isIdle(context: SchedulerContext): boolean {
  return context.queue.length === 0 && context.waiting.length === 0 && Object.keys(context.active).length === 0;
}
