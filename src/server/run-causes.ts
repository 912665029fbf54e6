import type { SpawnScheduler } from '../api/spawn-scheduler.js';
import type { ServerScheduler } from './server-options.js';

/** Most queued runs one {@link runCauses} answer explains (the oldest first). */
export const MAX_QUEUED_CAUSES = 1000;

/**
 * Why one live run is where it is, for the dashboard: `queued` behind the per-parent or the
 * global limit, `waiting` on its children (its slot given back), `resuming` (its wait is over, it
 * waits for a slot), or `running` with how long it has been idle (of its idle limit, when it has
 * one). `text` is the line the dashboard shows.
 *
 * @example
 * const cause: RunCause = {
 *   run_id: 'r3', child_session_id: 'c3', parent_session_id: 'p', state: 'queued',
 *   text: 'queued: per-parent limit 2/2 of p', limit: 'per_parent', used: 2, max: 2,
 * };
 */
export interface RunCause {
  run_id: string;
  child_session_id: string;
  parent_session_id: string;
  state: 'queued' | 'waiting' | 'resuming' | 'running';
  text: string;
  /** While queued: the limit that holds it (`stopping`: the scheduler is stopping). */
  limit?: 'per_parent' | 'global' | 'stopping' | undefined;
  /** Slots in use against {@link max} (the parent's for `per_parent`, all for `global`). */
  used?: number | undefined;
  max?: number | undefined;
  /** While queued: its place in the queue, 1 first. */
  position?: number | undefined;
  /** While waiting: the child sessions below it with a run queued or in flight. */
  waiting_on?: string[] | undefined;
  /** While running: ms since its last event (or its start). */
  idle_ms?: number | undefined;
  /** The idle limit of its runs (`idleTimeoutMs`), when one is set. */
  idle_timeout_ms?: number | undefined;
}

/**
 * What `GET /v1/run-causes` answers. `available` is false for a scheduler without a readable
 * actor (the distributed front door: its queue is BullMQ's), whose runs then have no cause here.
 *
 * @example
 * const { causes } = await runCauses(scheduler, Date.now());
 */
export interface RunCauses {
  available: boolean;
  concurrency?: number | undefined;
  per_parent_concurrency?: number | undefined;
  running?: number | undefined;
  queued?: number | undefined;
  causes: RunCause[];
}

interface ListedRunView {
  runId: string;
  job: { parentSessionId: string; childSessionId: string };
}

interface ContextView {
  concurrency?: unknown;
  perParentConcurrency?: unknown;
  running?: unknown;
  perParent?: Record<string, number> | undefined;
  queue?: Iterable<ListedRunView> & { length?: unknown };
  active?: Record<string, ListedRunView & { waiting?: boolean; counted?: boolean }> | undefined;
  resuming?: readonly string[] | undefined;
  stopMode?: unknown;
  jobLimits?: { idleTimeoutMs?: unknown } | undefined;
}

const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;
const short = (id: string): string => (id.length > 12 ? id.slice(0, 8) : id);

/**
 * The cause of every live run the embedded scheduler holds, read from its public actor snapshot
 * (the limits, the queue, the active runs; the way `isQueueFull` reads it) and from
 * `scheduler.getChild` for a running run's last event. Nothing of the scheduler is changed.
 *
 * @example
 * const { causes } = await runCauses(scheduler, Date.now());
 * causes[0]?.text; // 'queued: per-parent limit 2/2 of 5f0c1d2e'
 */
export async function runCauses(scheduler: ServerScheduler, now: number): Promise<RunCauses> {
  const embedded = scheduler as Partial<Pick<SpawnScheduler, 'actor'>>;
  if (!embedded.actor) return { available: false, causes: [] };
  const context = embedded.actor.getSnapshot().context as ContextView;
  const concurrency = num(context.concurrency);
  const perParentMax = num(context.perParentConcurrency);
  const running = num(context.running) ?? 0;
  const idleLimit = num(context.jobLimits?.idleTimeoutMs);
  const causes: RunCause[] = [];
  const inFlightBelow = new Map<string, string[]>();
  const note = (run: ListedRunView): void => {
    const list = inFlightBelow.get(run.job.parentSessionId) ?? [];
    list.push(run.job.childSessionId);
    inFlightBelow.set(run.job.parentSessionId, list);
  };
  let position = 0;
  for (const run of context.queue ?? []) {
    note(run);
    position += 1;
    if (position > MAX_QUEUED_CAUSES) continue;
    causes.push(
      queuedCause(run, position, {
        concurrency,
        perParentMax,
        running,
        perParent: context.perParent,
        stopping: context.stopMode !== undefined,
      }),
    );
  }
  const active = Object.entries(context.active ?? {});
  for (const [, run] of active) note(run);
  const resuming = new Set(context.resuming ?? []);
  const runningCauses = new Map(
    await Promise.all(
      active
        .filter(([slot, run]) => !resuming.has(slot) && run.waiting !== true)
        .map(async ([, run]) => [run.runId, await runningCause(scheduler, run, now, idleLimit)] as const),
    ),
  );
  for (const [slot, run] of active) {
    const base = { run_id: run.runId, child_session_id: run.job.childSessionId, parent_session_id: run.job.parentSessionId };
    if (resuming.has(slot)) {
      causes.push({
        ...base,
        state: 'resuming',
        text: `resuming: its children ended, waiting for a slot (${running}/${concurrency ?? '?'} in use)`,
      });
    } else if (run.waiting === true) {
      const below = inFlightBelow.get(run.job.childSessionId) ?? [];
      causes.push({
        ...base,
        state: 'waiting',
        text: below.length > 0 ? `waiting on ${below.map(short).join(', ')}` : 'waiting on its children',
        waiting_on: below,
      });
    } else {
      causes.push({ ...base, ...(runningCauses.get(run.runId) ?? { state: 'running', text: 'running' }) });
    }
  }
  return {
    available: true,
    concurrency,
    per_parent_concurrency: perParentMax,
    running,
    queued: position,
    causes,
  };
}

function queuedCause(
  run: ListedRunView,
  position: number,
  limits: {
    concurrency?: number | undefined;
    perParentMax?: number | undefined;
    running: number;
    perParent?: Record<string, number> | undefined;
    stopping: boolean;
  },
): RunCause {
  const parent = run.job.parentSessionId;
  const base = {
    run_id: run.runId,
    child_session_id: run.job.childSessionId,
    parent_session_id: parent,
    state: 'queued' as const,
    position,
  };
  if (limits.stopping) return { ...base, limit: 'stopping', text: 'queued: the scheduler is stopping' };
  const used = limits.perParent?.[parent] ?? 0;
  if (limits.perParentMax !== undefined && parent !== '' && used >= limits.perParentMax)
    return {
      ...base,
      limit: 'per_parent',
      used,
      max: limits.perParentMax,
      text: `queued: per-parent limit ${used}/${limits.perParentMax} of ${short(parent)}`,
    };
  if (limits.concurrency !== undefined && limits.running >= limits.concurrency)
    return {
      ...base,
      limit: 'global',
      used: limits.running,
      max: limits.concurrency,
      text: `queued: global limit ${limits.running}/${limits.concurrency}`,
    };
  return { ...base, text: `queued: #${position}, starting` };
}

async function runningCause(
  scheduler: ServerScheduler,
  run: ListedRunView,
  now: number,
  idleLimit: number | undefined,
): Promise<Pick<RunCause, 'state' | 'text' | 'idle_ms' | 'idle_timeout_ms'>> {
  const status = await scheduler.getChild(run.job.childSessionId).catch(() => undefined);
  const since = Date.parse(status?.runId === run.runId ? (status.lastEventAt ?? status.startedAt ?? '') : '');
  if (Number.isNaN(since)) return { state: 'running', text: 'running' };
  const idle = Math.max(0, now - since);
  return {
    state: 'running',
    idle_ms: idle,
    ...(idleLimit === undefined ? {} : { idle_timeout_ms: idleLimit }),
    text: idleLimit === undefined ? `running: last event ${seconds(idle)} ago` : `idle ${seconds(idle)} of ${seconds(idleLimit)}`,
  };
}
