import Database from 'better-sqlite3';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';

/** What the killed process left committed in the file. */
export interface Committed {
  /** Events per session, as stored (seq, parsed event). */
  events: Map<string, { seq: number; event: AgentEvent }[]>;
  /** Metadata of every child session. */
  metadata: Map<string, Record<string, string>>;
  /** Role of every child's last message. */
  lastRole: Map<string, string | undefined>;
}

/** A parent's stream as a subscriber saw it across the restart (replay, then recovery). */
export interface RecoveredStream {
  sessionId: string;
  envelopes: SessionEventEnvelope[];
  /** Children still `running` / `pending` after recovery and drain. */
  leftOpen?: string[];
  /** Child metadata after recovery and drain. */
  metadataAfter?: Map<string, Record<string, string>>;
}

type Completion = Extract<AgentEvent, { type: 'sub_session_completed' }>;
const TERMINAL = new Set(['completed', 'error', 'cancelled', 'skipped']);

/** Reads the killed process's file directly (before anything opens it as a store). */
export function readCommitted(path: string, sessionIds: readonly string[]): Committed {
  const db = new Database(path);
  try {
    const events = new Map<string, { seq: number; event: AgentEvent }[]>();
    const rows = db.prepare<[string], { seq: number; json: string }>('SELECT seq, json FROM events WHERE session_id = ? ORDER BY seq');
    for (const id of sessionIds)
      events.set(
        id,
        rows.all(id).map((row) => ({ seq: row.seq, event: JSON.parse(row.json) as AgentEvent })),
      );
    const metadata = new Map<string, Record<string, string>>();
    const lastRole = new Map<string, string | undefined>();
    for (const row of db.prepare<[], { json: string }>("SELECT json FROM sessions WHERE kind = 'child'").all()) {
      const session = JSON.parse(row.json) as { id: string; metadata: Record<string, string>; messages: { role: string }[] };
      metadata.set(session.id, session.metadata);
      lastRole.set(session.id, session.messages.at(-1)?.role);
    }
    return { events, metadata, lastRole };
  } finally {
    db.close();
  }
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The recovery contract after a SIGKILL (issue 9): every run announced in a parent's durable
 * stream is closed exactly once (committed, or published by recovery with the stored outcome of
 * that run or error/interrupted); committed events replay unchanged and seq continues; a run
 * that was never announced gets no event; nothing is left running or pending.
 */
export function checkRecovery(committed: Committed, streams: readonly RecoveredStream[], recover: 'interrupt' | 'requeue'): string[] {
  const out: string[] = [];
  const announced = new Set<string>();
  for (const stream of streams) {
    for (const { event } of committed.events.get(stream.sessionId) ?? [])
      if (event.type === 'sub_session_started') announced.add(event.run_id);
  }
  for (const stream of streams) {
    const id = stream.sessionId;
    const before = committed.events.get(id) ?? [];
    const all = stream.envelopes;
    all.forEach((envelope, i) => {
      if (envelope.seq !== i + 1) out.push(`${id}: seq ${envelope.seq} at position ${i + 1} (repeat or gap across the restart)`);
    });
    before.forEach((row, i) => {
      const replayed = all[i];
      if (!replayed || replayed.seq !== row.seq || !same(replayed.event, row.event))
        out.push(`${id}: committed event seq ${row.seq} (${row.event.type}) not replayed as is`);
    });
    const started = new Map<string, { child: string; count: number; index: number }>();
    const completions = new Map<string, { completion: Completion; index: number }[]>();
    all.forEach(({ event }, index) => {
      if (event.type === 'sub_session_started') {
        const entry = started.get(event.run_id) ?? { child: event.child_session_id, count: 0, index };
        entry.count += 1;
        started.set(event.run_id, entry);
      }
      if (event.type === 'sub_session_completed')
        completions.set(event.run_id, [...(completions.get(event.run_id) ?? []), { completion: event, index }]);
    });
    for (const [runId, { child, count }] of started) {
      if (count !== 1) out.push(`${id}: run ${runId} of ${child} announced ${count} times`);
      const closed = completions.get(runId) ?? [];
      if (closed.length !== 1) out.push(`${id}: run ${runId} of ${child} has ${closed.length} sub_session_completed`);
    }
    for (const [runId, closed] of completions) {
      if (!started.has(runId)) out.push(`${id}: completion ${JSON.stringify(closed[0]?.completion)} for a run that was never announced`);
    }
    // Runs open at the kill: recovery closes them with the stored outcome of that run, or as interrupted.
    const committedClosed = new Set(before.flatMap(({ event }) => (event.type === 'sub_session_completed' ? [event.run_id] : [])));
    for (const { event } of before) {
      if (event.type !== 'sub_session_started' || committedClosed.has(event.run_id)) continue;
      const closed = completions.get(event.run_id)?.[0]?.completion;
      if (!closed) continue;
      const meta = committed.metadata.get(event.child_session_id) ?? {};
      const storedOutcome = meta.last_run_id === event.run_id && TERMINAL.has(meta.last_run_status ?? '');
      const expected = storedOutcome
        ? { status: meta.last_run_status, error: meta.last_run_error }
        : { status: 'error', error: INTERRUPTED_ERROR, reason: 'interrupted' };
      const actual = storedOutcome
        ? { status: closed.status, error: closed.error }
        : { status: closed.status, error: closed.error, reason: closed.reason };
      if (!same(actual, expected)) {
        out.push(
          `${id}: run ${event.run_id} of ${event.child_session_id} open at the kill (stored ${JSON.stringify(meta)}) closed as ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
        );
      }
      if (recover === 'requeue' && !storedOutcome && committed.lastRole.get(event.child_session_id) === 'user') {
        const again = [...started].filter(
          ([runId, s]) => s.child === event.child_session_id && runId !== event.run_id && s.index >= before.length,
        );
        if (again.length === 0)
          out.push(`${id}: recover 'requeue' did not run ${event.child_session_id} again after closing ${event.run_id}`);
      }
    }
    // A child whose planned run was never announced (killed inside spawnChild) gets no event.
    if (recover === 'interrupt') {
      for (const [child, meta] of committed.metadata) {
        const runId = meta.last_run_id;
        if (meta.last_run_status !== 'pending' || runId === undefined || announced.has(runId)) continue;
        if (started.has(runId) || completions.has(runId))
          out.push(`${id}: never-announced run ${runId} of ${child} got events after the restart`);
        const after = stream.metadataAfter?.get(child);
        if (after && (after.last_run_status !== 'error' || after.last_run_error !== INTERRUPTED_ERROR)) {
          out.push(`child ${child} saved by spawnChild but never announced ends ${JSON.stringify(after)}, expected error/interrupted`);
        }
      }
    }
    // Metadata agrees with each child's latest completion.
    const latest = new Map<string, Completion>();
    for (const { event } of all) if (event.type === 'sub_session_completed') latest.set(event.child_session_id, event);
    for (const [child, completion] of latest) {
      const after = stream.metadataAfter?.get(child);
      if (!after) continue;
      const expected = { status: completion.status, runId: completion.run_id, error: completion.error };
      const actual = { status: after.last_run_status, runId: after.last_run_id, error: after.last_run_error };
      if (!same(actual, expected))
        out.push(
          `child ${child}: metadata ${JSON.stringify(actual)} after recovery disagrees with its latest completion ${JSON.stringify(expected)}`,
        );
    }
  }
  const leftOpen = streams[0]?.leftOpen ?? [];
  if (leftOpen.length > 0) out.push(`children still running/pending after recovery: ${JSON.stringify(leftOpen)}`);
  return [...new Set(out)];
}
