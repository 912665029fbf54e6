import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Observable } from 'rxjs';
import { observeRuns, type ObservableScheduler, type RunObserver, type RunStateSource } from '../../telemetry/observe-runs.js';

/** Buckets of `sprout_run_duration_seconds`: 100 ms to 4 h. */
const DURATION_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14_400];

/** What the scheduler's actor snapshot says (the embedded scheduler's public `actor`). */
interface SchedulerCounts {
  queue: { length: number };
  running: number;
  waitingRuns: number;
}

/** The embedded scheduler's counts from its actor's snapshot, or `undefined` (the distributed front door has no actor). */
function schedulerCounts(scheduler: unknown): SchedulerCounts | undefined {
  const actor = (scheduler as { actor?: { getSnapshot?: () => { context?: Partial<SchedulerCounts> } } }).actor;
  const context = typeof actor?.getSnapshot === 'function' ? actor.getSnapshot().context : undefined;
  if (context === undefined || typeof context.running !== 'number' || typeof context.queue?.length !== 'number') return undefined;
  return { queue: context.queue, running: context.running, waitingRuns: context.waitingRuns ?? 0 };
}

/** The append notifications of a scheduler's event log, when it has them (the distributed front door's `eventLog.changes$`). */
function appendedOf(scheduler: unknown): Observable<{ type: string; sessionId?: string; fromSeq?: number }> | undefined {
  const log = (scheduler as { eventLog?: { changes$?: unknown } }).eventLog;
  const changes = log?.changes$ as Observable<{ type: string }> | undefined;
  return typeof changes?.subscribe === 'function' ? changes : undefined;
}

/** Options of {@link createServerMetrics}. */
export interface ServerMetricsOptions {
  /** The server's scheduler (embedded, or the distributed front door). */
  scheduler: ObservableScheduler;
  /** The server's run-state tracker, to learn of runs as they are dispatched. @default none */
  runStates?: RunStateSource | undefined;
  /** Open streams by transport, read at each scrape. */
  openStreams: () => { sse: number; ws: number };
  /** Clock reading in ms (run durations). @default Date.now */
  now?: () => number;
}

/** One server's Prometheus metrics: its own registry and the run observer that feeds it. */
export interface ServerMetrics {
  /** The registry (per server: two servers in one process never clash). */
  readonly registry: Registry;
  /** The run observer behind the run counters (watch more sessions with it). */
  readonly observer: RunObserver;
  /** The exposition text of every metric. */
  text(): Promise<string>;
  /** Stops observing runs. */
  stop(): void;
}

/**
 * Prometheus metrics of a Sprout server, in a registry of its own: `sprout_queue_depth`,
 * `sprout_runs{state}` (queued / running / waiting), `sprout_run_completions_total{status,reason}`,
 * `sprout_run_duration_seconds{status}` (runs whose start was seen), `sprout_tokens_total{kind}`
 * (input / output, from each run's `complete` usage) and `sprout_open_streams{transport}` (sse /
 * ws). Queue and run gauges come from the embedded scheduler's actor snapshot at scrape time, or
 * (the distributed front door) from the runs seen on the event streams; counters from the runs
 * {@link observeRuns} sees.
 *
 * @example
 * const metrics = createServerMetrics({ scheduler, runStates, openStreams: () => ({ sse: 0, ws: 0 }) });
 * console.log(await metrics.text());
 */
export function createServerMetrics(options: ServerMetricsOptions): ServerMetrics {
  const registry = new Registry();
  const appended$ = appendedOf(options.scheduler);
  const observer = observeRuns(options.scheduler, {
    ...(options.runStates === undefined ? {} : { runStates: options.runStates }),
    ...(appended$ === undefined ? {} : { appended$ }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const observedCounts = (): SchedulerCounts => {
    const open = observer.open();
    const count = (state: string) => open.filter((run) => run.state === state).length;
    return { queue: { length: count('queued') }, running: count('running'), waitingRuns: count('waiting') };
  };
  const counts = (): SchedulerCounts => schedulerCounts(options.scheduler) ?? observedCounts();

  new Gauge({
    name: 'sprout_queue_depth',
    help: 'Runs queued and not yet running.',
    registers: [registry],
    collect() {
      this.set(counts().queue.length);
    },
  });
  new Gauge({
    name: 'sprout_runs',
    help: 'Runs by state: queued, running (holding a slot), waiting (for their children, no slot).',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const now = counts();
      this.set({ state: 'queued' }, now.queue.length);
      this.set({ state: 'running' }, now.running);
      this.set({ state: 'waiting' }, now.waitingRuns);
    },
  });
  const completions = new Counter({
    name: 'sprout_run_completions_total',
    help: 'Runs ended, by status and reason ("none" when the completion has no reason).',
    labelNames: ['status', 'reason'],
    registers: [registry],
  });
  const durations = new Histogram({
    name: 'sprout_run_duration_seconds',
    help: 'From a run being announced (queued) to its completion, for runs whose announcement was seen.',
    labelNames: ['status'],
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const tokens = new Counter({
    name: 'sprout_tokens_total',
    help: 'Tokens reported by runs that ended with usage: input (prompt) and output (completion).',
    labelNames: ['kind'],
    registers: [registry],
  });
  for (const kind of ['input', 'output']) tokens.inc({ kind }, 0);
  new Gauge({
    name: 'sprout_open_streams',
    help: 'Open event streams by transport: sse (and long polls), ws (/v2/stream).',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      const open = options.openStreams();
      this.set({ transport: 'sse' }, open.sse);
      this.set({ transport: 'ws' }, open.ws);
    },
  });

  const subscription = observer.changes$.subscribe(({ type, run }) => {
    if (type !== 'ended' || run.status === undefined) return;
    completions.inc({ status: run.status, reason: run.reason ?? 'none' });
    if (run.startSeen && run.endedAt !== undefined)
      durations.observe({ status: run.status }, Math.max(0, run.endedAt - run.startedAt) / 1000);
    const input = run.usage?.prompt_tokens ?? 0;
    const output = run.usage?.completion_tokens ?? 0;
    if (input > 0) tokens.inc({ kind: 'input' }, input);
    if (output > 0) tokens.inc({ kind: 'output' }, output);
  });

  return {
    registry,
    observer,
    text: () => registry.metrics(),
    stop: () => {
      subscription.unsubscribe();
      observer.unsubscribe();
    },
  };
}
