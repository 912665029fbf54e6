/**
 * The HTTP/SSE server of `sprout serve`, for embedding: Sprout's API under `/v1`, the
 * Bamboo-compatible API under `/api/v1` and the live dashboard at `/` (docs/guides/server.md).
 *
 * @example
 * const server = createSproutServer({ scheduler, store });
 * const listening = await listenSproutServer(server, { port: 7433 });
 */
export { createSproutServer } from './create-sprout-server.js';
export type { SproutServer } from './create-sprout-server.js';
export { listenSproutServer } from './listen-sprout-server.js';
export type { ListeningSproutServer, ListenOptions, TlsCredentials } from './listen-sprout-server.js';
export { modelAllowListAgent, ModelNotAllowedError } from './model-allow-list-agent.js';
export type { ForwardedRequest } from './forwarded-request.js';
export type { FeedJournal } from './v2/feed-journal.js';
export type { V2StreamHub } from './v2/v2-stream-hub.js';
export { sproutServerOptionsSchema, bambooDialectSchema } from './server-options.js';
export type { SproutServerOptions, BambooDialect } from './server-options.js';
export { createRunStateTracker, activeStateIds } from './run-states.js';
export { createServerMetrics } from './metrics/server-metrics.js';
export type { ServerMetrics, ServerMetricsOptions } from './metrics/server-metrics.js';
export type { RunStateTracker, RunState, RunStatesSnapshot, RunStateTrackerOptions } from './run-states.js';
export { toMachineGraph } from './machine-graph.js';
export type { MachineGraph, GraphNode, GraphEdge } from './machine-graph.js';
export { toBambooEvent } from './bamboo-dialect.js';
export type { BambooEvent } from './bamboo-dialect.js';
export { toBambooSummary } from './bamboo-session.js';
export type { BambooSessionSummary } from './bamboo-session.js';
export { HttpProblem } from './problem.js';
export type { ProblemDocument } from './problem.js';
