import { context, SpanStatusCode, trace, type Attributes, type Span, type SpanContext, type Tracer } from '@opentelemetry/api';
import { observeRuns, type ObservableScheduler, type ObservedRun, type ObserveRunsOptions, type RunObserver } from './observe-runs.js';

/** Span contexts of ended runs remembered, so a child that outlives its parent's run still nests under it. */
const ENDED_SPANS_REMEMBERED = 10_000;

/** Options of {@link traceRuns}: those of {@link observeRuns}, and the tracer. */
export interface TraceRunsOptions extends ObserveRunsOptions {
  /** Where spans go. @default trace.getTracer('sprout') (a no-op until an OpenTelemetry SDK is registered) */
  tracer?: Tracer;
  /** Follow runs seen by this observer instead of creating one (its own options are then ignored). @default a new observer */
  observer?: RunObserver;
}

/** What {@link traceRuns} returns: the observer it follows (watch sessions with it) and a way to stop. */
export interface RunTracing {
  readonly observer: RunObserver;
  /** Ends the spans of runs still open (status unset) and stops following runs. */
  unsubscribe(): void;
}

/** The attributes every run span carries from its start. */
function startAttributes(run: ObservedRun): Attributes {
  const attributes: Attributes = { 'sprout.session.id': run.sessionId, 'sprout.run.id': run.runId };
  if (run.parentSessionId !== '') attributes['sprout.parent_session.id'] = run.parentSessionId;
  if (run.parentRunId !== undefined) attributes['sprout.parent_run.id'] = run.parentRunId;
  if (run.title !== undefined) attributes['sprout.run.title'] = run.title;
  return attributes;
}

/**
 * One OpenTelemetry span per run (`sprout.run`), through `@opentelemetry/api` only: a no-op
 * until the application registers an SDK. A span starts when the run is announced (or first
 * seen) and ends with its completion, with attributes `sprout.session.id`,
 * `sprout.parent_session.id`, `sprout.run.id`, `sprout.parent_run.id`, `sprout.run.status`,
 * `sprout.run.reason`, `sprout.run.error` and `sprout.tokens.input` / `.output` / `.total`;
 * an `error` run gets status ERROR. A child's span is a child of the span of the run that
 * spawned it (its parent session's run at the time) when that run was seen. Runs are followed
 * with {@link observeRuns} on the scheduler's public event streams: watch a root to trace its tree.
 *
 * @example
 * const tracing = traceRuns(scheduler, { tracer: trace.getTracer('my-app') });
 * tracing.observer.watch('root');
 */
export function traceRuns(scheduler: ObservableScheduler, options: TraceRunsOptions = {}): RunTracing {
  const tracer = options.tracer ?? trace.getTracer('sprout');
  const owned = options.observer === undefined;
  const observer = options.observer ?? observeRuns(scheduler, options);
  const open = new Map<string, Span>();
  const ended = new Map<string, SpanContext>();

  const parentOf = (run: ObservedRun) => {
    if (run.parentRunId === undefined) return context.active();
    const span = open.get(run.parentRunId);
    if (span !== undefined) return trace.setSpan(context.active(), span);
    const spanContext = ended.get(run.parentRunId);
    return spanContext === undefined ? context.active() : trace.setSpanContext(context.active(), spanContext);
  };

  const subscription = observer.changes$.subscribe(({ type, run }) => {
    if (type === 'started') {
      open.set(run.runId, tracer.startSpan('sprout.run', { startTime: run.startedAt, attributes: startAttributes(run) }, parentOf(run)));
      return;
    }
    if (type !== 'ended') return;
    const span = open.get(run.runId);
    if (span === undefined) return;
    open.delete(run.runId);
    if (run.status !== undefined) span.setAttribute('sprout.run.status', run.status);
    if (run.reason !== undefined) span.setAttribute('sprout.run.reason', run.reason);
    if (run.error !== undefined) span.setAttribute('sprout.run.error', run.error);
    if (run.usage !== undefined) {
      span.setAttribute('sprout.tokens.input', run.usage.prompt_tokens ?? 0);
      span.setAttribute('sprout.tokens.output', run.usage.completion_tokens ?? 0);
      span.setAttribute('sprout.tokens.total', run.usage.total_tokens ?? 0);
    }
    if (run.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: run.error ?? 'run failed' });
    span.end(run.endedAt);
    ended.set(run.runId, span.spanContext());
    if (ended.size > ENDED_SPANS_REMEMBERED) ended.delete(ended.keys().next().value as string);
  });

  return {
    observer,
    unsubscribe: () => {
      subscription.unsubscribe();
      for (const span of open.values()) span.end();
      open.clear();
      if (owned) observer.unsubscribe();
    },
  };
}
