import { context, isSpanContextValid, trace, TraceFlags, type Context } from '@opentelemetry/api';

/** A W3C `traceparent` of version 00: `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`. */
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/**
 * The W3C `traceparent` of the active span (`@opentelemetry/api`'s active context), or
 * `undefined` when there is none (no SDK registered, or no span open). Written directly from
 * the span context, so it needs no registered propagator. A distributed job carries it so that
 * a worker continues the trace of the request that queued the run.
 *
 * @example
 * const data = { runId, ...job, traceparent: activeTraceparent() };
 */
export function activeTraceparent(): string | undefined {
  const spanContext = trace.getSpanContext(context.active());
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return undefined;
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/**
 * A context whose parent span is the one `traceparent` names (a remote span context), on top of
 * `base`; `base` itself for a missing or malformed value. Spans started in it (`tracer.startSpan(…,
 * …, ctx)`, or anything run in `context.with(ctx, …)`) join that trace.
 *
 * @example
 * await context.with(contextOfTraceparent(job.data.traceparent), () => runTheJob(job));
 */
export function contextOfTraceparent(traceparent: string | undefined, base: Context = context.active()): Context {
  const match = traceparent === undefined ? null : TRACEPARENT.exec(traceparent);
  if (match === null) return base;
  const [, traceId = '', spanId = '', flags = '00'] = match;
  const spanContext = { traceId, spanId, traceFlags: Number.parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
  return isSpanContextValid(spanContext) ? trace.setSpanContext(base, spanContext) : base;
}
