// One span per run, nested like the tree, across two workers: the front door stores the active
// traceparent with each job; a worker runs the job inside a `sprout.run` span whose parent is that
// traceparent, and a child its agent spawns carries the worker's run span. Real Redis and
// PostgreSQL, an in-memory span exporter, waits on conditions.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, trace } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterEach, describe, expect, it } from 'vitest';
import type { AgentRuntime } from '../../src/api/ports.js';
import { createDistributedScheduler, type DistributedScheduler } from '../../src/distributed/distributed-scheduler.js';
import { createWorker, type DistributedWorker } from '../../src/distributed/worker.js';
import { rootSession } from '../support/harness.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, until, type TestDeployment } from './support.js';

const unavailable = await servicesUnavailable();

const opened: { deployments: TestDeployment[]; fronts: DistributedScheduler[]; workers: DistributedWorker[] } = {
  deployments: [],
  fronts: [],
  workers: [],
};

afterEach(async () => {
  for (const worker of opened.workers.splice(0)) await worker.stop({ mode: 'cancel' });
  for (const front of opened.fronts.splice(0)) await front.stop();
  for (const deployment of opened.deployments.splice(0)) await deployment.cleanup();
  trace.disable();
  context.disable();
});

/** Roots spawn two children and wait; a child titled `branch` spawns one grandchild and waits; leaves answer. */
const treeAgent: AgentRuntime = {
  async execute(session, request) {
    const spawner = request.spawner!;
    if (session.kind === 'root') {
      await spawner.spawnChild(session.id, { title: 'branch', prompt: 'split' });
      await spawner.spawnChild(session.id, { title: 'leaf', prompt: 'answer' });
      await spawner.waitForChildren(session.id);
    } else if (session.title === 'branch') {
      await spawner.spawnChild(session.id, { title: 'leaf below', prompt: 'answer' });
      await spawner.waitForChildren(session.id);
    }
    session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'ok', created_at: new Date().toISOString() });
  },
};

describe.skipIf(unavailable !== undefined)('OpenTelemetry across workers', () => {
  it('a tree run on two workers is one trace: one span per run, nested like the tree', async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    const exporter = new InMemorySpanExporter();
    trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));

    const made = createTestDeployment();
    opened.deployments.push(made);
    const { prefix } = made;
    const front = createDistributedScheduler({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix });
    opened.fronts.push(front);
    await front.start();
    for (const name of ['w1', 'w2']) {
      const worker = createWorker({ redis: REDIS_URL, postgres: POSTGRES_URL, prefix, agent: treeAgent, concurrency: 1, name });
      opened.workers.push(worker);
      await worker.start();
    }
    await front.store.save(rootSession('root'));

    // The request that starts the tree has its own span: every run's span belongs to its trace.
    const request = trace.getTracer('test').startSpan('POST /messages');
    await context.with(trace.setSpan(context.active(), request), () => front.run('root', { message: 'go' }));
    request.end();

    const runs = () => exporter.getFinishedSpans().filter((span) => span.name === 'sprout.run');
    await until(() => runs().length === 4, 50);
    const bySession = new Map(runs().map((span) => [span.attributes['sprout.session.id'] as string, span]));
    const children = await front.store.listChildren('root');
    const branch = children.find((child) => child.title === 'branch')!;
    const leaf = children.find((child) => child.title === 'leaf')!;
    const [below] = await front.store.listChildren(branch.id);
    const parentOf = (sessionId: string) => bySession.get(sessionId)?.parentSpanContext?.spanId;
    const spanId = (sessionId: string) => bySession.get(sessionId)?.spanContext().spanId;

    expect(parentOf('root')).toBe(request.spanContext().spanId);
    expect(parentOf(branch.id)).toBe(spanId('root'));
    expect(parentOf(leaf.id)).toBe(spanId('root'));
    expect(parentOf(below!.id)).toBe(spanId(branch.id));
    expect(new Set(runs().map((span) => span.spanContext().traceId))).toEqual(new Set([request.spanContext().traceId]));
    for (const span of runs()) expect(span.attributes['sprout.run.status']).toBe('completed');
  });
});
