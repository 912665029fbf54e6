import { createStore } from '@xstate/store';
import { Observable } from 'rxjs';
import type { InspectionEvent } from 'xstate';

/** The job-machine state of one run, as the scheduler's inspection reported it. */
export interface RunState {
  runId: string;
  childSessionId: string;
  parentSessionId: string;
  /** Active state node ids, outermost first (`spawnJob.running`, `spawnJob.running.idleWatch.watching`, …). */
  states: string[];
  /** True once the job actor reached a final state. */
  done: boolean;
}

/** What a {@link RunStateTracker} knows: every tracked run and the scheduler's own state. */
export interface RunStatesSnapshot {
  scheduler: string[];
  runs: RunState[];
}

/** Collects live job-machine states from XState inspection (see {@link createRunStateTracker}). */
export interface RunStateTracker {
  /** Pass as `createSpawnScheduler({ inspect: tracker.inspect })`. */
  readonly inspect: (event: InspectionEvent) => void;
  /** Every tracked run (most recent {@link RunStateTrackerOptions.retain}) and the scheduler's state. */
  snapshot(): RunStatesSnapshot;
  /** The state of one run. */
  get(runId: string): RunState | undefined;
  /** Each change of a run's (or, with `runId: ''`, the scheduler's) active states. */
  readonly changes$: Observable<RunState>;
  /**
   * The same view as an `@xstate/store` store (context `{ scheduler, runs, last, version }`), for a UI
   * that subscribes to snapshots (`view.subscribe(...)`, `useSelector(view, ...)`). Off the hot
   * path: fed by inspection events only, and only when the tracker is the scheduler's `inspect`.
   */
  readonly view: RunStatesView;
}

/** The store behind a {@link RunStateTracker}: every tracked run by run id, the scheduler's states, a change counter. */
export type RunStatesView = ReturnType<typeof createRunStatesView>;

/** Creates the `@xstate/store` store a {@link RunStateTracker} keeps its view in. */
function createRunStatesView(retain: number) {
  return createStore({
    context: { scheduler: [] as string[], runs: new Map<string, RunState>(), last: undefined as RunState | undefined, version: 0 },
    on: {
      scheduler: (context, event: { state: RunState }) => ({
        ...context,
        scheduler: event.state.states,
        last: event.state,
        version: context.version + 1,
      }),
      run: (context, event: { state: RunState }) => {
        // The Map is updated in place (O(1) per change); `version` tells subscribers it changed.
        const runs = context.runs;
        runs.delete(event.state.runId);
        runs.set(event.state.runId, event.state);
        if (runs.size > retain) {
          for (const [runId, run] of runs) {
            if (runs.size <= retain) break;
            if (run.done) runs.delete(runId);
          }
        }
        return { ...context, last: event.state, version: context.version + 1 };
      },
    },
  });
}

/** Options of {@link createRunStateTracker}. */
export interface RunStateTrackerOptions {
  /** Ended runs kept. @default 2000 */
  retain?: number;
}

/** Active state ids of a snapshot value, outermost first (`{ running: { heartbeat: 'beating' } }` → …). */
export function activeStateIds(machineId: string, value: unknown): string[] {
  const out: string[] = [];
  const walk = (prefix: string, node: unknown): void => {
    if (typeof node === 'string') {
      out.push(`${prefix}.${node}`);
      return;
    }
    if (typeof node !== 'object' || node === null) return;
    for (const [key, child] of Object.entries(node)) {
      out.push(`${prefix}.${key}`);
      walk(`${prefix}.${key}`, child);
    }
  };
  walk(machineId, value);
  return out;
}

interface JobContextLike {
  runId?: unknown;
  job?: { childSessionId?: unknown; parentSessionId?: unknown };
  queue?: unknown;
}

/**
 * Tracks the live state of every job actor (and of the scheduler actor) from XState's
 * `@xstate.snapshot` inspection events: the dashboard draws the job machine with the selected
 * run's active states highlighted. Only public XState data is read (each snapshot's `value`,
 * `status` and the job context's `runId` / `job`); nothing of the scheduler's internals.
 *
 * @example
 * const runStates = createRunStateTracker();
 * const scheduler = createSpawnScheduler({ store, agent, inspect: runStates.inspect });
 * runStates.changes$.subscribe((run) => console.log(run.runId, run.states.at(-1)));
 */
export function createRunStateTracker(options: RunStateTrackerOptions = {}): RunStateTracker {
  const view = createRunStatesView(options.retain ?? 2000);
  const key = (states: readonly string[]): string => states.join('|');

  const inspect = (event: InspectionEvent): void => {
    if (event.type !== '@xstate.snapshot') return;
    const snapshot = event.snapshot as { value?: unknown; status?: unknown; context?: JobContextLike; machine?: { id?: unknown } };
    const context = snapshot.context;
    if (context === undefined || context === null) return;
    const { scheduler, runs } = view.getSnapshot().context;
    if (typeof context.runId !== 'string' && 'queue' in context) {
      const next = activeStateIds('spawnScheduler', snapshot.value);
      if (key(next) === key(scheduler)) return;
      view.trigger.scheduler({
        state: { runId: '', childSessionId: '', parentSessionId: '', states: next, done: snapshot.status === 'done' },
      });
      return;
    }
    if (typeof context.runId !== 'string' || typeof context.job?.childSessionId !== 'string') return;
    const states = activeStateIds('spawnJob', snapshot.value);
    const done = snapshot.status === 'done' || snapshot.status === 'error';
    const previous = runs.get(context.runId);
    if (previous && previous.done === done && key(previous.states) === key(states)) return;
    view.trigger.run({
      state: {
        runId: context.runId,
        childSessionId: context.job.childSessionId,
        parentSessionId: typeof context.job.parentSessionId === 'string' ? context.job.parentSessionId : '',
        states,
        done,
      },
    });
  };

  return {
    inspect,
    view,
    snapshot: () => {
      const { scheduler, runs } = view.getSnapshot().context;
      return { scheduler: [...scheduler], runs: [...runs.values()] };
    },
    get: (runId) => view.getSnapshot().context.runs.get(runId),
    changes$: new Observable<RunState>((subscriber) => {
      let seen = view.getSnapshot().context.version;
      const subscription = view.subscribe(({ context }) => {
        if (context.version === seen || context.last === undefined) return;
        seen = context.version;
        subscriber.next(context.last);
      });
      return () => subscription.unsubscribe();
    }),
  };
}
