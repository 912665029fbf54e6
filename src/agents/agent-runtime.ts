/**
 * The agent port. Its one definition is the documented public one (`src/api/ports.ts`);
 * the scheduler and the agents import it from here.
 */
export type { AgentRuntime, ExecuteRequest } from '../api/ports.js';
