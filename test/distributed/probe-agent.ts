// An in-process agent for the distributed tests that counts, from the agents' side, how many
// agents run at once (in all and per parent), records every call, and plays a script chosen by
// the child's title: `hang…` waits for its abort signal; anything else waits for the gate (open by
// default), streams a token and answers.
import type { AgentRuntime, ExecuteRequest } from '../../src/api/ports.js';
import type { Session } from '../../machines/session.schema.js';

/** One `execute` call. */
export interface ProbeCall {
  sessionId: string;
  parentSessionId: string;
  runId: string;
  title: string;
  signal: AbortSignal;
  worker: string;
  settled: boolean;
}

/** What the probe agents of a test share. */
export interface Probe {
  calls: ProbeCall[];
  running: number;
  maxRunning: number;
  runningByParent: Map<string, number>;
  maxByParent: Map<string, number>;
  /** Opens the gate (agents waiting at it go on; later ones do not wait). */
  open(): void;
  /** Closes the gate: agents wait at it until `open()`. */
  close(): void;
  /** An agent for one worker (its calls are tagged with `worker`). */
  agent(worker: string, onAbort?: (session: Session, call: ProbeCall) => void): AgentRuntime;
  /** The call that ran a child, if any. */
  callOf(childSessionId: string): ProbeCall | undefined;
}

function abortError(signal: AbortSignal): Error {
  const error = new Error('probe agent aborted', { cause: signal.reason });
  error.name = 'AbortError';
  return error;
}

/** A promise that rejects when the signal aborts (and never resolves otherwise unless `until` does). */
function abortable<T>(signal: AbortSignal, until: Promise<T>): Promise<T> {
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortError(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    until.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

export function createProbe(): Probe {
  let gate: { promise: Promise<void>; release(): void } | undefined;
  const probe: Probe = {
    calls: [],
    running: 0,
    maxRunning: 0,
    runningByParent: new Map(),
    maxByParent: new Map(),
    open() {
      gate?.release();
      gate = undefined;
    },
    close() {
      if (gate) return;
      let release = (): void => {};
      const promise = new Promise<void>((resolve) => (release = resolve));
      gate = { promise, release };
    },
    callOf: (childSessionId) => probe.calls.find((call) => call.sessionId === childSessionId),
    agent(worker, onAbort) {
      return {
        async execute(session: Session, request: ExecuteRequest) {
          const parentSessionId = session.parent_session_id ?? '';
          const call: ProbeCall = {
            sessionId: session.id,
            parentSessionId,
            runId: session.metadata.last_run_id ?? '',
            title: session.title,
            signal: request.signal,
            worker,
            settled: false,
          };
          probe.calls.push(call);
          probe.running++;
          probe.maxRunning = Math.max(probe.maxRunning, probe.running);
          const byParent = (probe.runningByParent.get(parentSessionId) ?? 0) + 1;
          probe.runningByParent.set(parentSessionId, byParent);
          probe.maxByParent.set(parentSessionId, Math.max(probe.maxByParent.get(parentSessionId) ?? 0, byParent));
          try {
            if (session.title.startsWith('hang')) {
              if (onAbort) request.signal.addEventListener('abort', () => onAbort(session, call), { once: true });
              await abortable(request.signal, new Promise<never>(() => {}));
            }
            if (gate) await abortable(request.signal, gate.promise);
            request.emit({ type: 'token', content: `working on ${session.title}` });
            await abortable(request.signal, new Promise((resolve) => setImmediate(resolve)));
            session.messages.push({
              id: `${session.id}-answer`,
              role: 'assistant',
              content: `Done: ${session.title}`,
              created_at: new Date().toISOString(),
            });
          } finally {
            call.settled = true;
            probe.running--;
            probe.runningByParent.set(parentSessionId, (probe.runningByParent.get(parentSessionId) ?? 1) - 1);
          }
        },
      };
    },
  };
  return probe;
}
