import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { SpanStatusCode } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { traceRuns } from '../../src/telemetry/trace-runs.js';
import { childSession, createHarness, rootSession } from '../support/harness.js';

describe('traceRuns', () => {
  it('a tree of three runs gives three sprout.run spans nested like the tree, with their attributes', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const h = await createHarness({
      seed: [rootSession(), childSession('a'), childSession('b', 'a', { spawn_depth: 2 }), childSession('c', 'b', { spawn_depth: 3 })],
      agent: {
        scripts: { a: [{ wait: 3000 }], b: [{ wait: 2000 }], c: [{ wait: 500 }, { fail: 'tool exploded' }] },
        usage: { prompt_tokens: 7, completion_tokens: 3 },
      },
    });
    h.clock.set(Date.UTC(2026, 0, 1));
    const tracing = traceRuns(h.scheduler, { tracer: provider.getTracer('test'), now: () => h.clock.now() });
    tracing.observer.watch('root');

    const { runId: a } = await h.scheduler.enqueue({ parentSessionId: 'root', childSessionId: 'a', model: 'm' });
    await h.advance(100);
    const { runId: b } = await h.scheduler.enqueue({ parentSessionId: 'a', childSessionId: 'b', model: 'm' });
    await h.advance(100);
    const { runId: c } = await h.scheduler.enqueue({ parentSessionId: 'b', childSessionId: 'c', model: 'm' });
    await h.until(() => exporter.getFinishedSpans().length === 3, 'three spans ended');

    const spans = new Map(exporter.getFinishedSpans().map((span) => [span.attributes['sprout.run.id'], span]));
    const [spanA, spanB, spanC] = [spans.get(a), spans.get(b), spans.get(c)];
    expect(spanA?.name).toBe('sprout.run');
    expect(spanA?.parentSpanContext).toBeUndefined();
    expect(spanB?.parentSpanContext?.spanId).toBe(spanA?.spanContext().spanId);
    expect(spanC?.parentSpanContext?.spanId).toBe(spanB?.spanContext().spanId);
    expect(new Set([spanA, spanB, spanC].map((span) => span?.spanContext().traceId)).size).toBe(1);
    expect(spanA?.attributes).toEqual({
      'sprout.session.id': 'a',
      'sprout.parent_session.id': 'root',
      'sprout.run.id': a,
      'sprout.run.status': 'completed',
      'sprout.tokens.input': 7,
      'sprout.tokens.output': 3,
      'sprout.tokens.total': 10,
    });
    expect(spanB?.attributes).toMatchObject({ 'sprout.session.id': 'b', 'sprout.parent_session.id': 'a', 'sprout.parent_run.id': a });
    expect(spanC?.attributes).toMatchObject({
      'sprout.parent_run.id': b,
      'sprout.run.status': 'error',
      'sprout.run.error': 'tool exploded',
    });
    expect(spanC?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'tool exploded' });
    // Times are the scheduler's (simulated) clock: a ran 3 s.
    const ms = (time: [number, number] | undefined) => (time === undefined ? NaN : time[0] * 1000 + time[1] / 1e6);
    expect(ms(spanA?.endTime) - ms(spanA?.startTime)).toBeCloseTo(3000, -2);
    tracing.unsubscribe();
    await h.scheduler.stop();
  });
});
