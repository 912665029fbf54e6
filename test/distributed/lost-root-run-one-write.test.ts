// A lost root run is closed in ONE write: its `error` status and its terminal `error` event are
// committed together (`PostgresSessionStore.saveAndAppend`). Before, the save committed first and
// the append after; when the append failed, the next delivery found the root saved as ended and
// never wrote its terminal event, so a client waiting on the root's stream waited for ever. The
// failure is injected, not raced: a trigger of this test's schema refuses the first `error` event
// written to the root's stream (a sequence counts, as it survives the rollback). Real Redis,
// PostgreSQL and a killed `sprout worker` process; the same shape with the store test of
// `saveAndAppend` in `test/adapters/postgres/save-and-append.test.ts`.
import { describe, expect, it } from 'vitest';
import type { DistributedDiagnostic } from '../../src/distributed/diagnostics.js';
import { rootSession } from '../support/harness.js';
import { adminQuery } from '../support/postgres.js';
import { createProbe } from './probe-agent.js';
import { finishedJob, servicesUnavailable } from './support.js';
import { trackOpened } from './opened.js';
import { openFrontDoorWithQueue } from './front-door-with-queue.js';
import { expectRootClosedOnce, loseRunOfKilledWorker, reportsOf, startRescuer } from './lost-run-rescue.js';

const unavailable = await servicesUnavailable();
const opened = trackOpened();

/** Makes the first `error` event written to `sessionId`'s stream fail its statement (SQLSTATE P0001). */
async function refuseFirstErrorEvent(schema: string, sessionId: string): Promise<void> {
  const s = `"${schema}"`;
  await adminQuery(`CREATE SEQUENCE ${s}.refused_error_events`);
  await adminQuery(`CREATE FUNCTION ${s}.refuse_first_error_event() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.session_id = '${sessionId}' AND NEW.event->>'type' = 'error' AND nextval('${s}.refused_error_events') = 1 THEN
        RAISE EXCEPTION 'injected: the first error event of ${sessionId} is refused';
      END IF;
      RETURN NEW;
    END $fn$`);
  await adminQuery(
    `CREATE TRIGGER refuse_first_error_event BEFORE INSERT ON ${s}.events FOR EACH ROW EXECUTE FUNCTION ${s}.refuse_first_error_event()`,
  );
}

describe.skipIf(unavailable !== undefined)('a lost root run whose close fails halfway', () => {
  it('is closed again by the next delivery, with its status and one terminal event written together', async () => {
    const { prefix, front, redis, queue, close } = await openFrontDoorWithQueue(opened);
    try {
      await front.store.save(rootSession('r', { title: 'hang root' }));
      const runId = await loseRunOfKilledWorker(opened, prefix, redis, () => front.run('r', { message: 'Go on' }));
      await refuseFirstErrorEvent(prefix, 'r');

      const probe = createProbe();
      const diagnostics: DistributedDiagnostic[] = [];
      await startRescuer(opened, prefix, probe, diagnostics);

      expect(await finishedJob(queue, runId)).toBe('recovered');
      // The failed close was a service failure: deferred, then closed by a later delivery.
      const reports = reportsOf(diagnostics, runId);
      expect(reports.deferred).toContain('a service failed');
      expect(reports.recovered).toEqual([expect.objectContaining({ childSessionId: 'r', status: 'error' })]);
      const [counted] = await adminQuery<{ refused: string }>(`SELECT last_value AS refused FROM "${prefix}".refused_error_events`);
      expect(Number(counted?.refused)).toBeGreaterThanOrEqual(2);

      // One terminal event on the root's own stream, and the store agrees with it.
      await expectRootClosedOnce(front, redis, prefix, 'r', runId);
      expect(probe.calls).toEqual([]);
    } finally {
      await close();
    }
  });
});
