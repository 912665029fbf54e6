/** Conformance suites for adapter authors: run them from your adapter's tests. */
export { describeSessionStoreConformance, makeSession, type CreateSessionStore } from './session-store-conformance.js';
export { describeEventLogConformance, type CreateEventLog, type EventLogUnderTest } from './event-log-conformance.js';
export { describeRunLedgerConformance } from './run-ledger-conformance.js';
export { describeRunOwnershipConformance, type CreateRunOwnership, type RunOwnershipUnderTest } from './run-ownership-conformance.js';
export type { ConformanceTestApi, ConformanceExpect } from './test-api.js';
