import { context, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ChildRunSummary } from '../api/scheduler-types.js';
import { contextOfTraceparent } from '../telemetry/traceparent.js';
import type { RunJobData } from './run-job.js';

/** The tracer of distributed workers (a no-op unless an OpenTelemetry SDK is registered). */
const tracer = () => trace.getTracer('@sprout-agents/sprout');

/**
 * Runs one queued run inside a `sprout.run` span whose parent is the span that queued it (the
 * job's `traceparent`: the front door's request, or the run of the parent session on whatever
 * worker spawned it). Everything the run does happens in that span's context, so a child it
 * spawns carries this span as its `traceparent`: a tree's spans nest like the tree across
 * workers. Attributes: session, parent session, run id, status, error.
 *
 * @example
 * const summary = await inRunSpan(job.data, () => runHere(job.data));
 */
export async function inRunSpan(data: RunJobData, run: () => Promise<ChildRunSummary | undefined>): Promise<ChildRunSummary | undefined> {
  const parent = contextOfTraceparent(data.traceparent, context.active());
  const span = tracer().startSpan(
    'sprout.run',
    {
      attributes: {
        'sprout.session.id': data.childSessionId,
        'sprout.parent_session.id': data.parentSessionId,
        'sprout.run.id': data.runId,
        ...(data.title === undefined ? {} : { 'sprout.run.title': data.title }),
      },
    },
    parent,
  );
  try {
    const summary = await context.with(trace.setSpan(parent, span), run);
    if (summary !== undefined) {
      span.setAttribute('sprout.run.status', summary.status);
      if (summary.error !== undefined) span.setAttribute('sprout.run.error', summary.error);
      if (summary.status === 'error') span.setStatus({ code: SpanStatusCode.ERROR, message: summary.error ?? 'error' });
    }
    return summary;
  } catch (error) {
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    throw error;
  } finally {
    span.end();
  }
}
