/**
 * serve: one child emits N events (1,000 in full mode) that `sprout serve`'s SSE endpoint
 * (`GET /v1/sessions/{id}/events`, Hono on @hono/node-server) delivers to C clients (1,000) on
 * loopback; against a bare node:http SSE server writing the same pre-serialized frames to the
 * same number of clients, in the same run. Target: ≥ 0.5 × bare.
 *
 * Events/s = N × C / (time from the first event to the moment every client has the last one).
 * Both sides emit in batches of 50 events per macrotask, and the clients (same code for both)
 * run in this process.
 */
import { startBareSse } from '../baselines/bare-sse.js';
import { childId, jobOf, nextTurn, ROOT_ID, seedStore } from '../lib/fixtures.js';
import { openSseClients } from '../lib/sse-clients.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, ScenarioOutput } from '../lib/types.js';
import type { AgentRuntime } from '../../src/agents/agent-runtime.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { createSproutServer } from '../../src/server/create-sprout-server.js';
import { listenSproutServer } from '../../src/server/listen-sprout-server.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';

const BATCH = 50;
const CONTENT = 'token ';

/** An agent emitting `count` tokens in batches, one macrotask apart; records when it started. */
function batchAgent(count: number, started: (at: number) => void): AgentRuntime {
  return {
    async execute(session, request) {
      started(performance.now());
      for (let i = 0; i < count; i += BATCH) {
        for (let j = i; j < Math.min(count, i + BATCH); j++) request.emit({ type: 'token', content: CONTENT });
        await nextTurn();
      }
      session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'done', created_at: new Date().toISOString() });
    },
  };
}

async function sproutServe(events: number, clients: number): Promise<{ eventsPerSec: number; frames: number }> {
  const store = new MemorySessionStore();
  await seedStore(store, 1);
  let startedAt = 0;
  const scheduler = createSpawnScheduler({ store, agent: batchAgent(events, (at) => (startedAt = at)), heartbeatIntervalMs: 60_000 });
  await scheduler.start();
  // One load generator on loopback is one client address: lift the per-client stream cap.
  const server = createSproutServer({ scheduler, store, maxStreamsPerClient: Math.max(32, clients) });
  const listening = await listenSproutServer(server, { host: '127.0.0.1', port: 0 });
  const sse = await openSseClients(`${listening.url}/v1/sessions/${ROOT_ID}/events`, clients, 'sub_session_completed');
  await scheduler.enqueue(jobOf(0));
  await sse.allSaw();
  const elapsed = performance.now() - startedAt;
  const frames = sse.frames();
  sse.close();
  await scheduler.stop();
  await listening.close();
  return { eventsPerSec: (events * clients) / (elapsed / 1000), frames };
}

async function bareServe(events: number, clients: number): Promise<{ eventsPerSec: number; frames: number }> {
  const bare = await startBareSse();
  const sse = await openSseClients(bare.url, clients, 'sub_session_completed');
  const child = childId(0);
  const frame = (seq: number, event: object): string =>
    `id: ${seq}\nevent: ${(event as { type: string }).type}\ndata: ${JSON.stringify(event)}\n\n`;
  // Same sizes as Sprout's frames: run ids are UUIDs there.
  const ids = { parent_session_id: ROOT_ID, child_session_id: child, run_id: '00000000-0000-4000-8000-000000000000' };
  const startedAt = performance.now();
  let seq = 0;
  for (let i = 0; i < events; i += BATCH) {
    for (let j = i; j < Math.min(events, i + BATCH); j++)
      bare.broadcast(frame(++seq, { type: 'sub_session_event', ...ids, event: { type: 'token', content: CONTENT } }));
    await nextTurn();
  }
  bare.broadcast(frame(++seq, { type: 'sub_session_completed', ...ids, status: 'completed', result: 'done' }));
  await sse.allSaw();
  const elapsed = performance.now() - startedAt;
  const frames = sse.frames();
  sse.close();
  await bare.close();
  return { eventsPerSec: (events * clients) / (elapsed / 1000), frames };
}

export async function serve(config: BenchConfig): Promise<ScenarioOutput> {
  const events = config.count(1_000, 50);
  const clients = config.mode === 'smoke' ? 20 : config.mode === 'quick' ? 200 : 1_000;
  const lost: string[] = [];
  const runs = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
    const sprout = await sproutServe(events, clients);
    const bare = await bareServe(events, clients);
    // Sprout also sends sub_session_started and heartbeats: at least events + completion per client.
    if (sprout.frames < (events + 1) * clients) lost.push(`sprout: ${sprout.frames} frames < ${(events + 1) * clients}`);
    if (bare.frames < (events + 1) * clients) lost.push(`bare: ${bare.frames} frames < ${(events + 1) * clients}`);
    if (run >= 0)
      config.log(
        `serve run ${run + 1}: sprout ${(sprout.eventsPerSec / 1e3).toFixed(0)} k/s, bare ${(bare.eventsPerSec / 1e3).toFixed(0)} k/s`,
      );
    return { sprout: sprout.eventsPerSec, bare: bare.eventsPerSec };
  });
  return {
    metrics: [
      { scenario: 'serve', metric: 'Sprout SSE events/s delivered', unit: 'ev/s', samples: runs.map((r) => r.sprout) },
      { scenario: 'serve', metric: 'bare node:http SSE events/s', unit: 'ev/s', samples: runs.map((r) => r.bare) },
      {
        scenario: 'serve',
        metric: 'Sprout / bare',
        unit: 'x',
        samples: runs.map((r) => r.sprout / r.bare),
        target: { op: '>=', value: 0.5 },
      },
    ],
    notes: [
      `${events} token events from one child to ${clients} SSE clients on loopback (clients in the same process), batches of ${BATCH} per macrotask`,
      ...lost,
    ],
  };
}
