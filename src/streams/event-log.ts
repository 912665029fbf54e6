/**
 * The event-log port. Its one definition is the documented public one (`src/api/ports.ts`);
 * adapters and the scheduler import it from here.
 */
export type { EventLog, EventLogCapabilities, EventLogReadResult, MaybePromise, OpenRun } from '../api/ports.js';
