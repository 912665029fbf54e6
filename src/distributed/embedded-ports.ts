import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import type { EventLog, RunFence, SessionStore } from '../api/ports.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import { decodeStoredSession } from '../adapters/stored-session.js';
import { EventLogError, InvalidSessionDataError, RunFencedError } from '../errors.js';

/** How a worker's ports find the ownership token of a write and hear that a token was refused. */
export interface WorkerFencing {
  /** The token this worker holds for a run, by run id. */
  byRun(runId: string): RunFence | undefined;
  /** The token of the run this worker runs on a session (the child), by session id. */
  bySession(sessionId: string): RunFence | undefined;
  /** A write was refused: another worker took the run over. */
  onFenced(error: RunFencedError): void;
}

const fenced = async <T>(write: Promise<T>, fencing: WorkerFencing): Promise<T> => {
  try {
    return await write;
  } catch (error) {
    if (error instanceof RunFencedError) fencing.onFenced(error);
    throw error;
  }
};

/** A child's row read by the claim of its run (its `version` and undecoded `data`). */
export interface PreloadedRow {
  version: number;
  data: unknown;
}

/**
 * Child rows a worker read with the claim of their run (one statement: the claim, the open-run
 * ledger and the child), kept for that run's first load of the child so that it is not read
 * again. A row is served at most once, only to a load made while this worker holds that very
 * claim (the same run and epoch), and only when nothing wrote the child through this worker
 * since: {@link offer} is for a first claim only (epoch 1: no earlier owner of the run can have a
 * write the claim's snapshot missed), and the worker drops the row when its run ends.
 *
 * @example
 * const preloaded = new PreloadedSessions();
 * preloaded.offer('c1', fence, { version: 3, data });
 * const store = workerSessionStore(postgresStore, fencing, preloaded);
 */
export class PreloadedSessions {
  readonly #rows = new Map<string, { fence: RunFence; row: PreloadedRow }>();

  /** Keeps `row` of `sessionId` for the first load made under `fence`. */
  offer(sessionId: string, fence: RunFence, row: PreloadedRow): void {
    this.#rows.set(sessionId, { fence, row });
  }

  /** The row kept for `sessionId` under exactly `fence` (then forgotten); `undefined` otherwise. */
  take(sessionId: string, fence: RunFence | undefined): PreloadedRow | undefined {
    const kept = this.#rows.get(sessionId);
    if (kept === undefined) return undefined;
    this.#rows.delete(sessionId);
    if (fence === undefined || kept.fence.runId !== fence.runId || kept.fence.epoch !== fence.epoch) return undefined;
    return kept.row;
  }

  /** Forgets the row of `sessionId` (of run `runId` only, when given). */
  drop(sessionId: string, runId?: string): void {
    if (runId === undefined || this.#rows.get(sessionId)?.fence.runId === runId) this.#rows.delete(sessionId);
  }

  /** Rows kept now. */
  get size(): number {
    return this.#rows.size;
  }
}

/**
 * The store a worker's embedded scheduler sees: the PostgreSQL store without `listByRunStatus`
 * and `openEventLog`. Start-up recovery of an embedded scheduler ends every run it does not run
 * itself — on a schema shared by several workers that would end the other workers' runs. In
 * distributed mode a lost run is ended by the worker that gets its job again, run by run.
 * Every save of a session this worker runs carries the run's token (`fencing`): once another
 * worker took the run, the save is refused, the final one included. The first load of a child
 * whose row the run's claim read is served from `preloaded` (see {@link PreloadedSessions});
 * it is checked against the schema as any load is. A save of a session whose run this worker
 * knows it lost (`isLost`) is refused with `RunFencedError` before it is sent, its final save
 * included: nothing of a lost run is written after the worker learnt it lost it.
 */
export function workerSessionStore(
  store: PostgresSessionStore,
  fencing: WorkerFencing,
  preloaded?: PreloadedSessions,
  isLost: (runId: string) => boolean = () => false,
): SessionStore {
  return {
    capabilities: store.capabilities,
    load: (id) => {
      const row = preloaded?.take(id, fencing.bySession(id));
      if (row === undefined) return store.load(id);
      const decoded = decodeStoredSession(id, row.data, row.version);
      return decoded instanceof InvalidSessionDataError ? Promise.reject(decoded) : Promise.resolve(decoded);
    },
    save: (session: Session) => {
      preloaded?.drop(session.id);
      const fence = fencing.bySession(session.id);
      if (fence === undefined) return store.save(session);
      // A run this worker knows it lost (its claim is gone, taken over or lost with Redis) writes
      // nothing more, even while its token still passes: the worker that closes it decides its end.
      if (isLost(fence.runId)) return Promise.reject(new RunFencedError(fence.runId, fence.epoch, `the save of session ${session.id}`));
      return fenced(store.save(session, { fence }), fencing);
    },
    delete: (id) => {
      preloaded?.drop(id);
      return store.delete(id);
    },
    listChildren: (id) => store.listChildren(id),
  };
}

/**
 * The event log a worker's embedded scheduler sees: the PostgreSQL log, declaring no run ledger
 * (no start-up recovery, see {@link workerSessionStore}), and fenced: every event of a run this
 * worker holds (by the event's run id, or the session the run runs on) carries the run's token,
 * so nothing of a run another worker took over is written — its completion included. A run
 * already known lost is refused at once.
 */
export function workerEventLog(
  log: PostgresEventLog,
  fencing: WorkerFencing,
  completing: (runId: string, written: Promise<unknown>) => void,
  isLost: (runId: string) => boolean,
): EventLog {
  return {
    capabilities: { durable: true, runLedger: false, batched: true },
    append(sessionId: string, event: AgentEvent): Promise<SessionEventEnvelope> {
      const runId = 'run_id' in event ? event.run_id : undefined;
      if (runId !== undefined && event.type !== 'sub_session_started' && isLost(runId)) {
        return Promise.reject(new EventLogError(`run ${runId} was taken over by another worker: its events are not published any more`));
      }
      const fence = (runId === undefined ? undefined : fencing.byRun(runId)) ?? fencing.bySession(sessionId);
      const written = fenced(fence === undefined ? log.append(sessionId, event) : log.append(sessionId, event, { fence }), fencing);
      if (event.type === 'sub_session_completed') completing(event.run_id, written);
      return written;
    },
    read: (sessionId, afterSeq) => log.read(sessionId, afterSeq),
    flush: () => log.flush(),
  };
}
