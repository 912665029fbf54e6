/**
 * The session-store port. Its one definition is the documented public one (`src/api/ports.ts`);
 * the stores and the scheduler import it from here.
 */
export type { SessionStore } from '../api/ports.js';
