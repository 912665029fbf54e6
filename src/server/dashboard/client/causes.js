/* global setInterval, clearInterval */
// Why a live run is where it is: `GET /v1/run-causes` (the scheduler's limits, queue and waits:
// "queued: per-parent limit 2/2 of P", "waiting on c3, c7", "idle 41 s of 60 s"), polled, with
// the heartbeats' `waiting_on` as a fallback (a run the server cannot explain, e.g. distributed).
import { useEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';

const EMPTY = { available: false, byRun: new Map() };

/** The live causes by run id, polled every `ms`. */
export function useCauses(ms = 1500) {
  const [causes, setCauses] = useState(EMPTY);
  useEffect(() => {
    let live = true;
    const load = () =>
      getJson('/v1/run-causes').then(
        (body) => live && setCauses({ available: body.available, byRun: new Map(body.causes.map((cause) => [cause.run_id, cause])) }),
        () => {},
      );
    void load();
    const timer = setInterval(load, ms);
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [ms]);
  return causes;
}

const FINAL = new Set(['completed', 'error', 'cancelled', 'skipped']);

/**
 * The cause line of a run that has not ended, or `undefined`: the server's cause, with child
 * ids replaced by titles where `nameOf` knows them, else what its heartbeats said (`waitingOn`).
 */
export function causeText({ runId, status, waitingOn }, causes, nameOf = (id) => id.slice(0, 8)) {
  if (FINAL.has(status)) return undefined;
  const cause = causes.byRun.get(runId);
  if (cause?.state === 'waiting' && cause.waiting_on?.length > 0) return `waiting on ${cause.waiting_on.map(nameOf).join(', ')}`;
  if (cause?.state === 'waiting' && waitingOn?.length > 0) return `waiting on ${waitingOn.map(nameOf).join(', ')}`;
  if (cause?.limit === 'per_parent') return `queued: per-parent limit ${cause.used}/${cause.max} of ${nameOf(cause.parent_session_id)}`;
  if (cause !== undefined) return cause.text;
  if (waitingOn?.length > 0) return `waiting on ${waitingOn.map(nameOf).join(', ')}`;
  if (status === 'queued') return causes.available ? 'queued: starting' : 'queued: waiting for a worker to take it';
  return undefined;
}
