import type { Observable, Subscription } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { SpawnJob } from '../../machines/spawn-job.events.js';
import type { SessionStore } from '../../src/api/ports.js';

/** The `sub_session_completed` members of a stream. */
export type Completion = Extract<AgentEvent, { type: 'sub_session_completed' }>;

/** A job for `enqueue`. */
export function jobFor(childSessionId: string, parentSessionId = 'root'): SpawnJob {
  return { parentSessionId, childSessionId, model: 'test-model' };
}

/** Collects what an Observable emits until unsubscribed. */
export function collect(source: Observable<SessionEventEnvelope>): { envelopes: SessionEventEnvelope[]; subscription: Subscription } {
  const envelopes: SessionEventEnvelope[] = [];
  const subscription = source.subscribe((envelope) => envelopes.push(envelope));
  return { envelopes, subscription };
}

/** The `sub_session_completed` events of envelopes, optionally of one child. */
export function completionsIn(envelopes: readonly SessionEventEnvelope[], childSessionId?: string): Completion[] {
  return envelopes
    .map((envelope) => envelope.event)
    .filter((event): event is Completion => event.type === 'sub_session_completed')
    .filter((event) => childSessionId === undefined || event.child_session_id === childSessionId);
}

/** Child ids of the `sub_session_started` events of envelopes, in order. */
export function startedChildren(envelopes: readonly SessionEventEnvelope[]): string[] {
  return envelopes.flatMap((envelope) => (envelope.event.type === 'sub_session_started' ? [envelope.event.child_session_id] : []));
}

/** Tracks whether a promise settled, without awaiting it. */
export function track<T>(promise: Promise<T>): { settled: () => boolean; value: () => T | undefined; error: () => unknown } {
  let settled = false;
  let value: T | undefined;
  let error: unknown;
  promise.then(
    (v) => {
      settled = true;
      value = v;
    },
    (e: unknown) => {
      settled = true;
      error = e;
    },
  );
  return { settled: () => settled, value: () => value, error: () => error };
}

/**
 * A plain-object view of a store with only the four methods of the port (no `listByRunStatus`),
 * optionally rewriting what `load` returns (to feed the scheduler data that fails the schema).
 */
export function plainStore(inner: SessionStore, rewriteLoad?: (id: string, loaded: unknown) => unknown): SessionStore {
  return {
    load: async (id) => {
      const loaded = await inner.load(id);
      return (rewriteLoad ? rewriteLoad(id, loaded) : loaded) as Awaited<ReturnType<SessionStore['load']>>;
    },
    save: (session) => inner.save(session),
    delete: (id) => inner.delete(id),
    listChildren: (parentSessionId) => inner.listChildren(parentSessionId),
  };
}
