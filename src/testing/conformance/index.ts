/** Conformance suites for adapter authors: run them from your adapter's tests. */
export { describeSessionStoreConformance, makeSession, type CreateSessionStore } from './session-store-conformance.js';
export { describeEventLogConformance, type CreateEventLog } from './event-log-conformance.js';
export type { ConformanceTestApi, ConformanceExpect } from './test-api.js';
