import { ROOT_CONTEXT, context, trace, type Context, type ContextManager } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeTraceparent, contextOfTraceparent } from '../../src/telemetry/traceparent.js';

/** A synchronous context manager (what an SDK registers; `context.with` is a no-op without one). */
class StackContextManager implements ContextManager {
  #stack: Context[] = [];
  active(): Context {
    return this.#stack.at(-1) ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    ctx: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    this.#stack.push(ctx);
    try {
      return fn.call(thisArg, ...args);
    } finally {
      this.#stack.pop();
    }
  }
  bind<T>(_ctx: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#stack = [];
    return this;
  }
}

describe('traceparent: a distributed job continues the trace that queued it', () => {
  beforeEach(() => context.setGlobalContextManager(new StackContextManager()));
  afterEach(() => context.disable());

  it('is undefined without an active span, and round-trips the active span as W3C traceparent', () => {
    expect(activeTraceparent()).toBeUndefined();
    const exporter = new InMemorySpanExporter();
    const tracer = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }).getTracer('test');
    const request = tracer.startSpan('POST /v1/sessions/r/children');
    const traceparent = context.with(trace.setSpan(context.active(), request), () => activeTraceparent());
    const { traceId, spanId } = request.spanContext();
    expect(traceparent).toBe(`00-${traceId}-${spanId}-01`);

    // On the worker: the run's span is a child of the request's span, in the same trace.
    const run = tracer.startSpan('sprout.run', {}, contextOfTraceparent(traceparent));
    run.end();
    request.end();
    const [runSpan] = exporter.getFinishedSpans();
    expect(runSpan?.spanContext().traceId).toBe(traceId);
    expect(runSpan?.parentSpanContext?.spanId).toBe(spanId);
  });

  it('ignores a missing or malformed traceparent', () => {
    for (const bad of [
      undefined,
      '',
      'garbage',
      `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`,
      `01-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
    ]) {
      expect(contextOfTraceparent(bad, ROOT_CONTEXT)).toBe(ROOT_CONTEXT);
    }
  });
});
