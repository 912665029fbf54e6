import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresEventLog } from '../../../src/adapters/postgres/postgres-event-log.js';
import type { CliIo } from '../../../src/cli/cli-io.js';
import { runCli } from '../../../src/cli/run-cli.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable } from '../../support/postgres.js';

const unavailable = await postgresUnavailable();

const ids = (parent: string, child: string, runId: string) => ({ parent_session_id: parent, child_session_id: child, run_id: runId });

/** `sprout audit --postgres … --json` in process: exit code and report. */
async function audit(
  schema: string,
): Promise<{ code: number; report: { total: number; counts: Record<string, number>; scanned: { events: number } } }> {
  let stdout = '';
  const io = {
    stdout: { write: (text: string) => ((stdout += text), true) },
    stderr: { write: () => true },
    onInterrupt: () => () => {},
  } as unknown as CliIo;
  const code = await runCli(['audit', '--postgres', POSTGRES_URL, '--prefix', schema, '--json'], io);
  return { code, report: JSON.parse(stdout) as never };
}

describe.skipIf(unavailable !== undefined && process.env.SPROUT_REQUIRE_POSTGRES !== '1')('sprout audit --postgres', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  });

  it('reads the log through a cursor: healthy, then a lost run and a seq gap', async () => {
    const schema = createTestSchema();
    cleanups.push(() => schema.drop());
    const log = new PostgresEventLog({ connectionString: POSTGRES_URL, schema: schema.name });
    cleanups.push(() => log.close());
    for (const [child, runId] of [
      ['c1', 'r1'],
      ['c2', 'r2'],
    ]) {
      await log.append('root', { type: 'sub_session_started', ...ids('root', child as string, runId as string) });
      await log.append(child as string, { type: 'token', content: 'hi' });
      await log.append('root', {
        type: 'sub_session_event',
        ...ids('root', child as string, runId as string),
        event: { type: 'token', content: 'hi' },
      });
      await log.append('root', { type: 'sub_session_completed', ...ids('root', child as string, runId as string), status: 'completed' });
    }
    const healthy = await audit(schema.name);
    expect(healthy).toMatchObject({ code: 0, report: { total: 0, scanned: { events: 8 } } });

    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      // r2's completion gone (no ledger row either: the run is lost), which also leaves a gap on root's stream.
      await client.query(
        `DELETE FROM "${schema.name}".events WHERE session_id = 'root' AND event->>'type' = 'sub_session_completed' AND event->>'run_id' = 'r2'`,
      );
      await log.append('root', { type: 'token', content: 'after' });
    } finally {
      await client.end();
    }
    const broken = await audit(schema.name);
    expect(broken.code).toBe(1);
    expect(broken.report.counts).toEqual({ seq_gap: 1, lost_run: 1 });
  });
});
