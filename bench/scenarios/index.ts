/** The scenarios of `bench/run.ts`, in run order (issue #5's table). Loaded lazily, one per worker. */
import type { Scenario } from '../lib/types.js';

export const scenarios: Record<string, () => Promise<Scenario>> = {
  lifecycle: async () => (await import('./lifecycle.js')).lifecycle,
  forwarding: async () => (await import('./forwarding.js')).forwarding,
  wide: async () => (await import('./wide.js')).wide,
  long: async () => (await import('./long.js')).long,
  latency: async () => (await import('./latency.js')).latency,
  sqlite: async () => (await import('./sqlite.js')).sqlite,
  list: async () => (await import('./list-pages.js')).listPages,
  runs: async () => (await import('./run-queries.js')).runQueries,
  bullmq: async () => (await import('./bullmq.js')).bullmq,
  serve: async () => (await import('./serve.js')).serve,
  distributed: async () => (await import('./distributed.js')).distributed,
  'round-trips': async () => (await import('./round-trips.js')).roundTrips,
  audit: async () => (await import('./audit.js')).audit,
};

/** Scenario names in run order. */
export const scenarioNames = Object.keys(scenarios);
