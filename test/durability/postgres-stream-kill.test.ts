// Issue 21 item 1 on PostgreSQL: durable before delivered. A scheduler on `PostgresSessionStore`
// streams a tree while a client reads the root's stream; it is killed with SIGKILL, started again
// on the same schema (its `start()` recovers the interrupted runs and publishes their ends on the
// same streams), killed again, ten times. Every (seq → event) the client ever saw must name the
// same event in every later run and in the log at the end: no id reused, nothing delivered that
// the log lacks. (`sprout serve` runs embedded on SQLite or in memory only, so the server is the
// library here.)
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { PostgresSessionStore } from '../../src/adapters/postgres/postgres-session-store.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { INTERRUPTED_ERROR } from '../../src/scheduler/recover-interrupted-runs.js';
import { scriptedAgent } from '../../src/testing/scripted-agent.js';
import { POSTGRES_URL, createTestSchema, postgresUnavailable, undroppedSchemas } from '../support/postgres.js';

const unavailable = await postgresUnavailable();
const worker = join(import.meta.dirname, 'fixtures', 'postgres-stream-kill-worker.ts');

/** Kill points: how many envelopes past the previous run's last seen seq each run gets to deliver. */
const KILLS = [30, 90, 7, 200, 45, 150, 1, 400, 60, 120];

/** Runs the worker, reads the root's stream as a client does, and kills it once it saw a seq past `killAt`. */
function streamThenKill(schema: string, killAt: number): Promise<SessionEventEnvelope[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', worker, POSTGRES_URL, schema], { stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    let err = '';
    const seen: SessionEventEnvelope[] = [];
    let killed = false;
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        if (line.startsWith('EV ') && !killed) seen.push(JSON.parse(line.slice(3)) as SessionEventEnvelope);
        newline = buffer.indexOf('\n');
      }
      if (!killed && (seen.at(-1)?.seq ?? 0) >= killAt) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.once('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(seen);
      else reject(new Error(`worker exited (${code}) before the kill: ${err}`));
    });
  });
}

describe.skipIf(unavailable !== undefined)('kill -9 while a client streams from PostgreSQL', () => {
  afterAll(() => expect(undroppedSchemas()).toEqual([]));

  it(`every id the client saw names the same event after each of ${KILLS.length} restarts`, { timeout: 120_000 }, async () => {
    const schema = createTestSchema();
    try {
      const named = new Map<number, AgentEvent>();
      let last = 0;
      for (const [run, extra] of KILLS.entries()) {
        const seen = await streamThenKill(schema.name, last + extra);
        // One run's view: the replay from 0, then live, with no gap and no repeat.
        expect(
          seen.map((envelope) => envelope.seq),
          `run ${run}`,
        ).toEqual(seen.map((_, i) => i + 1));
        for (const { seq, event } of seen) {
          // An id an earlier run delivered names the same event now (it was durable, and not reused).
          if (named.has(seq)) expect(event, `run ${run}, seq ${seq}`).toEqual(named.get(seq));
          else named.set(seq, event);
        }
        last = seen.at(-1)?.seq ?? last;
      }

      // A last start recovers the tenth run; then the log holds every event the client saw.
      const store = new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name });
      try {
        const scheduler = createSpawnScheduler({ store, agent: scriptedAgent(), eventRetention: 1_000_000 });
        await scheduler.start();
        await scheduler.stop();
        const { envelopes } = await store.openEventLog({ retention: 1_000_000, onError: () => undefined }).read('root', 0);
        expect(envelopes.map((envelope) => envelope.seq)).toEqual(envelopes.map((_, i) => i + 1));
        const stored = new Map(envelopes.map((envelope) => [envelope.seq, envelope.event]));
        for (const [seq, event] of named) expect(stored.get(seq), `seq ${seq}`).toEqual(event);
        // Each run of the root (one per user message; a worker killed before it ran the root has
        // none) was ended once: by recovery, as interrupted.
        const root = await store.load('root');
        const runs = root?.messages.filter((message) => message.role === 'user').length ?? 0;
        expect(runs).toBeGreaterThan(KILLS.length / 2);
        const terminals = envelopes
          .map((envelope) => envelope.event)
          .filter((event) => event.type === 'error' || event.type === 'complete');
        expect(terminals).toEqual(Array.from({ length: runs }, () => ({ type: 'error', message: INTERRUPTED_ERROR })));
        expect(root?.metadata).toMatchObject({ last_run_status: 'error', last_run_error: INTERRUPTED_ERROR });
      } finally {
        await store.close();
      }
    } finally {
      await schema.drop();
    }
  });
});
