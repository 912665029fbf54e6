import { METADATA_KEYS, sessionSchema, type Session } from '../../machines/session.schema.js';
import type { SaveSessionInput } from '../../machines/spawn-job.events.js';
import { toRfc3339, type SproutClock } from '../clock.js';
import { InvalidSessionDataError, SessionConflictError } from '../errors.js';
import type { SessionStore } from '../api/ports.js';

/** How many times a save is retried after an optimistic-concurrency conflict. */
export const MAX_CONFLICT_RETRIES = 5;

/**
 * Loads a session and checks it against the schema (the store is an edge: its data is input).
 *
 * @example
 * const session = await loadValidSession(store, 'child-1'); // undefined when missing
 */
export async function loadValidSession(store: SessionStore, id: string): Promise<Session | undefined> {
  const raw: unknown = await store.load(id);
  if (raw === undefined || raw === null) return undefined;
  // A store that declares validated loads (Sprout's memory and SQLite stores) returns fresh,
  // checked copies: no second parse on the hot path.
  if (store.capabilities?.validatedLoads === true) return raw as Session;
  const parsed = sessionSchema.safeParse(raw);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`).join('; ');
    throw new InvalidSessionDataError(id, detail);
  }
  return parsed.data;
}

/** Writes `last_run_status`, `last_run_id` and `last_run_error` (removed when there is none). */
export function applyRunMetadata(session: Session, input: Pick<SaveSessionInput, 'runId' | 'status' | 'error'>): void {
  session.metadata[METADATA_KEYS.status] = input.status;
  session.metadata[METADATA_KEYS.runId] = input.runId;
  if (input.error !== undefined) session.metadata[METADATA_KEYS.error] = input.error;
  else delete session.metadata[METADATA_KEYS.error];
}

/** Messages of `latest`, then those of `ours` that `latest` does not have (by id). */
export function mergeMessages(latest: Session['messages'], ours: Session['messages']): Session['messages'] {
  const known = new Set(latest.map((message) => message.id));
  return [...latest, ...ours.filter((message) => !known.has(message.id))];
}

/**
 * Saves a run's working copy with its run metadata. On a {@link SessionConflictError} (someone
 * saved the session since it was read) it re-reads the session, keeps every message either side
 * wrote, and saves again; run metadata is written only while this run is still the child's
 * newest run, so a stale run never overwrites a newer one. The working copy is updated in place.
 *
 * @example
 * await persistRun(store, { session, runId: 'r1', status: 'completed' }, () => true, clock);
 */
export async function persistRun(
  store: SessionStore,
  input: SaveSessionInput,
  isCurrentRun: () => boolean,
  clock: SproutClock,
): Promise<void> {
  const session = input.session;
  for (let attempt = 0; ; attempt++) {
    if (isCurrentRun()) applyRunMetadata(session, input);
    session.updated_at = toRfc3339(clock.now());
    try {
      await store.save(session);
      return;
    } catch (error) {
      if (!(error instanceof SessionConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw error;
      const latest = await loadValidSession(store, session.id);
      if (!latest) throw error;
      const messages = mergeMessages(latest.messages, session.messages);
      const metadata = { ...latest.metadata };
      Object.assign(session, latest, { messages, metadata });
    }
  }
}
