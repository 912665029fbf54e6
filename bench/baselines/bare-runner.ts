/**
 * The "bare" baseline: the work of one spawn-job run — load the child, mark it running, run the
 * agent, forward its events with per-session seq numbers (plus a bounded replay tail and the
 * heartbeat timer), persist the final session, publish the completion — hand-written with
 * promises and RxJS Subjects, with no XState, no registry and no input validation. It is the
 * practical limit for this work in Node; Sprout is measured as a ratio of it.
 */
import { Subject, type Observable } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import type { SessionStore } from '../../src/api/ports.js';

/** Options of {@link BareRunner}. */
export interface BareRunnerOptions {
  store: SessionStore;
  agent: AgentRuntime;
  /** Max runs at once. */
  concurrency: number;
  /** @default 5000 */
  heartbeatIntervalMs?: number;
  /** Envelopes kept per session (a ring, like `MemoryEventLog`). @default 1000 */
  retention?: number;
}

interface Stream {
  seq: number;
  ring: SessionEventEnvelope[];
  live: Subject<SessionEventEnvelope>;
}

const MAX_RESULT_CHARS = 4000;

/** A minimal background runner for child sessions. */
export class BareRunner {
  readonly #options: Required<BareRunnerOptions>;
  readonly #streams = new Map<string, Stream>();
  readonly #queue: { job: SpawnJob; runId: string }[] = [];
  #running = 0;
  #nextRun = 0;

  constructor(options: BareRunnerOptions) {
    this.#options = { heartbeatIntervalMs: 5000, retention: 1000, ...options };
  }

  /** Live events of a session. */
  events(sessionId: string): Observable<SessionEventEnvelope> {
    return this.#stream(sessionId).live.asObservable();
  }

  /** Queues a run, publishes `sub_session_started` and resolves with the run id. */
  enqueue(job: SpawnJob): Promise<{ runId: string }> {
    const runId = `bare-${++this.#nextRun}`;
    this.#publish(job.parentSessionId, {
      type: 'sub_session_started',
      parent_session_id: job.parentSessionId,
      child_session_id: job.childSessionId,
      run_id: runId,
    });
    this.#queue.push({ job, runId });
    this.#pump();
    return Promise.resolve({ runId });
  }

  #pump(): void {
    while (this.#running < this.#options.concurrency && this.#queue.length > 0) {
      const next = this.#queue.shift()!;
      this.#running += 1;
      void this.#run(next.job, next.runId).finally(() => {
        this.#running -= 1;
        this.#pump();
      });
    }
  }

  async #run(job: SpawnJob, runId: string): Promise<void> {
    const { store, agent, heartbeatIntervalMs } = this.#options;
    const parent = job.parentSessionId;
    const complete = (status: 'completed' | 'error' | 'skipped', error?: string, result?: string) =>
      this.#publish(parent, {
        type: 'sub_session_completed',
        parent_session_id: parent,
        child_session_id: job.childSessionId,
        run_id: runId,
        status,
        ...(error === undefined ? {} : { error }),
        ...(result === undefined ? {} : { result }),
      });
    let session: Session | undefined;
    try {
      session = await store.load(job.childSessionId);
    } catch (error) {
      return complete('error', `failed to load child session: ${String(error)}`);
    }
    if (!session) return complete('error', 'child session not found');
    if (session.kind !== 'child') return complete('error', 'spawn job child session is not kind=child');
    if (session.parent_session_id !== parent)
      return complete('error', `child session ${job.childSessionId} does not belong to parent ${parent}`);
    const mark = (status: string, error?: string) => {
      session.metadata.last_run_status = status;
      session.metadata.last_run_id = runId;
      if (error === undefined) delete session.metadata.last_run_error;
      else session.metadata.last_run_error = error;
      session.updated_at = new Date().toISOString();
    };
    if (session.messages.at(-1)?.role !== 'user') {
      mark('skipped', 'No pending message to execute');
      await store.save(session);
      return complete('skipped', 'No pending message to execute');
    }
    mark('running');
    await store.save(session);

    let eventsSeen = 0;
    let open = true;
    const heartbeat = () =>
      this.#publish(parent, {
        type: 'sub_session_heartbeat',
        parent_session_id: parent,
        child_session_id: job.childSessionId,
        run_id: runId,
        timestamp: new Date().toISOString(),
        events_seen: eventsSeen,
      });
    heartbeat();
    let timer = setTimeout(function beat() {
      heartbeat();
      timer = setTimeout(beat, heartbeatIntervalMs);
    }, heartbeatIntervalMs);
    const controller = new AbortController();
    const emit = (event: AgentEvent) => {
      if (!open) return;
      eventsSeen += 1;
      this.#publish(parent, {
        type: 'sub_session_event',
        parent_session_id: parent,
        child_session_id: job.childSessionId,
        run_id: runId,
        event,
      });
    };
    let failure: string | undefined;
    try {
      await agent.execute(session, { model: job.model, signal: controller.signal, emit });
    } catch (error) {
      failure = error instanceof Error ? error.message : String(error);
    } finally {
      open = false;
      clearTimeout(timer);
    }
    mark(failure === undefined ? 'completed' : 'error', failure);
    await store.save(session);
    complete(failure === undefined ? 'completed' : 'error', failure, failure === undefined ? finalAnswer(session) : undefined);
  }

  #stream(sessionId: string): Stream {
    let stream = this.#streams.get(sessionId);
    if (!stream) {
      stream = { seq: 0, ring: [], live: new Subject() };
      this.#streams.set(sessionId, stream);
    }
    return stream;
  }

  #publish(sessionId: string, event: AgentEvent): void {
    const stream = this.#stream(sessionId);
    const seq = ++stream.seq;
    const envelope: SessionEventEnvelope = { seq, sessionId, event };
    const capacity = this.#options.retention;
    if (seq <= capacity) stream.ring.push(envelope);
    else stream.ring[(seq - 1) % capacity] = envelope;
    stream.live.next(envelope);
  }
}

function finalAnswer(session: Session): string | undefined {
  for (let i = session.messages.length - 1; i >= 0; i--) {
    const message = session.messages[i]!;
    if (message.role === 'user') return undefined;
    if (message.role === 'assistant' && message.content.length > 0) return message.content.slice(0, MAX_RESULT_CHARS);
  }
  return undefined;
}
