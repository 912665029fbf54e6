import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { EventLog, SessionStore } from '../api/ports.js';
import type { PostgresEventLog } from '../adapters/postgres/postgres-event-log.js';
import type { PostgresSessionStore } from '../adapters/postgres/postgres-session-store.js';
import { EventLogError } from '../errors.js';

/**
 * The store a worker's embedded scheduler sees: the PostgreSQL store without `listByRunStatus`
 * and `openEventLog`. Start-up recovery of an embedded scheduler ends every run it does not run
 * itself — on a schema shared by several workers that would end the other workers' runs. In
 * distributed mode a lost run is ended by the worker that gets its job again, run by run.
 */
export function workerSessionStore(store: PostgresSessionStore): SessionStore {
  return {
    capabilities: store.capabilities,
    load: (id) => store.load(id),
    save: (session) => store.save(session),
    delete: (id) => store.delete(id),
    listChildren: (id) => store.listChildren(id),
  };
}

/**
 * The event log a worker's embedded scheduler sees: the PostgreSQL log, declaring no run ledger
 * (no start-up recovery, see {@link workerSessionStore}), and fenced: a run's
 * `sub_session_completed` is written only while `isOpen(runId)` says the run is still open in the
 * durable ledger. A worker that was taken for dead (it stalled longer than its lease) and whose run
 * another worker already ended cannot publish a second completion.
 */
export function workerEventLog(
  log: PostgresEventLog,
  isOpen: (runId: string) => Promise<boolean>,
  completing: (runId: string, written: Promise<unknown>) => void,
  isLost: (runId: string) => boolean,
): EventLog {
  return {
    capabilities: { durable: true, runLedger: false, batched: true },
    append(sessionId: string, event: AgentEvent): Promise<SessionEventEnvelope> {
      if ('run_id' in event && event.type !== 'sub_session_started' && isLost(event.run_id)) {
        return Promise.reject(
          new EventLogError(`run ${event.run_id} was taken over by another worker: its events are not published any more`),
        );
      }
      if (event.type !== 'sub_session_completed') return log.append(sessionId, event);
      const written = isOpen(event.run_id).then((open) => {
        if (!open)
          throw new EventLogError(`run ${event.run_id} was already ended by another worker: its completion is not published again`);
        return log.append(sessionId, event);
      });
      completing(event.run_id, written);
      return written;
    },
    read: (sessionId, afterSeq) => log.read(sessionId, afterSeq),
    flush: () => log.flush(),
  };
}
