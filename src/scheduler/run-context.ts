import { AsyncLocalStorage } from 'node:async_hooks';

/** Which run an agent call comes from. */
export interface RunContext {
  runId: string;
  sessionId: string;
}

const storage = new AsyncLocalStorage<RunContext>();

/**
 * Runs an agent's `execute` inside its run's context, so a scheduler call the agent makes (its
 * tools, or a `scheduler` it closed over) is known to come from that run: a `waitForChildren` on
 * its own session then gives the run's slot back, while the same call from outside the run does
 * not (the run's agent keeps working and keeps its slot).
 *
 * @example
 * const done = inRunContext({ runId, sessionId }, () => agent.execute(session, request));
 */
export function inRunContext<T>(context: RunContext, fn: () => T): T {
  return storage.run(context, fn);
}

/** The run the current call comes from, if any (see {@link inRunContext}). */
export function currentRun(): RunContext | undefined {
  return storage.getStore();
}
