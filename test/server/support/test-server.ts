import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentRuntime } from '../../../src/agents/agent-runtime.js';
import { systemClock, toRfc3339 } from '../../../src/clock.js';
import { createSpawnScheduler } from '../../../src/create-spawn-scheduler.js';
import type { SpawnScheduler } from '../../../src/api/spawn-scheduler.js';
import type { SpawnSchedulerOptions } from '../../../src/api/spawn-scheduler-options.js';
import { createSproutServer, type SproutServer } from '../../../src/server/create-sprout-server.js';
import { listenSproutServer, type ListeningSproutServer } from '../../../src/server/listen-sprout-server.js';
import { createRunStateTracker, type RunStateTracker } from '../../../src/server/run-states.js';
import type { SproutServerOptions } from '../../../src/server/server-options.js';
import { MemorySessionStore } from '../../../src/adapters/memory/memory-session-store.js';
import type { SessionStore } from '../../../src/api/ports.js';
import { SqliteSessionStore } from '../../../src/adapters/sqlite/sqlite-session-store.js';
import { scriptedAgent, type ScriptStep } from '../../../src/testing/scripted-agent.js';

/** A short real-clock script: a few tokens, one tool call, the answer. */
export const quickScript: ScriptStep[] = [
  { tokens: 'Looking into it now', every: 5 },
  { tool: { name: 'web_search', args: { q: 'x' }, result: { hits: 3 }, duration: 20 } },
  { tokens: 'Three sources found', every: 5 },
];

/** A scripted agent: `[hang]` in the prompt hangs until cancelled, `[fail]` fails, else {@link quickScript}. */
export function testAgent(): AgentRuntime {
  return scriptedAgent({
    clock: systemClock,
    script: (session) => {
      const prompt = session.messages.at(-1)?.content ?? '';
      if (prompt.includes('[hang]')) return [{ tokens: 'Starting', every: 1 }, { hang: true }];
      if (prompt.includes('[fail]')) return [{ tokens: 'Trying', every: 1 }, { fail: 'tool exploded' }];
      return quickScript;
    },
    answer: (session) => ((session.messages.at(-1)?.content ?? '').includes('[fail]') ? null : `Answer for ${session.title}`),
  });
}

/** A running server on loopback port 0 with its scheduler and store. */
export interface TestServer {
  url: string;
  port: number;
  server: SproutServer;
  listening: ListeningSproutServer;
  scheduler: SpawnScheduler;
  store: SessionStore;
  runStates: RunStateTracker;
  /** Stops the server and the scheduler (cancel mode) and closes a SQLite store. Idempotent. */
  close(mode?: 'drain' | 'cancel'): Promise<void>;
}

/** Options of {@link startTestServer}. */
export interface TestServerOptions {
  store?: SessionStore;
  agent?: AgentRuntime;
  scheduler?: Partial<SpawnSchedulerOptions>;
  server?: Partial<SproutServerOptions>;
  port?: number;
  host?: string;
}

/** Starts a scheduler and a Sprout server on 127.0.0.1 (port 0 unless given). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const store = options.store ?? new MemorySessionStore();
  const runStates = createRunStateTracker();
  const scheduler = createSpawnScheduler({
    store,
    agent: options.agent ?? testAgent(),
    clock: systemClock,
    heartbeatIntervalMs: 50,
    inspect: runStates.inspect,
    ...options.scheduler,
  });
  await scheduler.start();
  const server = createSproutServer({ scheduler, store, runStates, ...options.server });
  const listening = await listenSproutServer(server, { host: options.host ?? '127.0.0.1', port: options.port ?? 0 });
  let closed: Promise<void> | undefined;
  return {
    url: listening.url,
    port: listening.port,
    server,
    listening,
    scheduler,
    store,
    runStates,
    close(mode = 'cancel') {
      closed ??= (async () => {
        await scheduler.stop({ mode });
        await listening.close();
        if (store instanceof SqliteSessionStore) store.close();
      })();
      return closed;
    },
  };
}

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix = 'sprout-server-'): { dir: string; file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, file: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** JSON request helper: returns status, headers and parsed body. */
export async function api<T = Record<string, unknown>>(
  url: string,
  init: { method?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] ??= 'application/json';
  const request = () =>
    fetch(url, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers,
      ...(init.body === undefined ? {} : { body: typeof init.body === 'string' ? init.body : JSON.stringify(init.body) }),
    });
  let response: Response;
  try {
    response = await request();
  } catch (error) {
    // After a server restart on the same port, fetch's pool may hand out a keep-alive socket the
    // old server closed ("other side closed"): the request never reached a server, so send it again.
    if ((error as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw error;
    response = await request();
  }
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // Not JSON: keep the text.
  }
  return { status: response.status, headers: response.headers, body: body as T };
}

/** Creates a root through the API and returns its id. */
export async function createRoot(url: string, title = 'Root', headers: Record<string, string> = {}): Promise<string> {
  const { status, body } = await api<{ session: { id: string } }>(`${url}/v1/sessions`, { body: { title }, headers });
  if (status !== 201) throw new Error(`create root: ${status} ${JSON.stringify(body)}`);
  return body.session.id;
}

/** Saves a root directly in a store. */
export async function saveRoot(store: SessionStore, id: string): Promise<void> {
  const now = toRfc3339(Date.now());
  await store.save({
    id,
    title: 'Root',
    kind: 'root',
    root_session_id: id,
    spawn_depth: 0,
    model: 'm',
    messages: [],
    metadata: {},
    created_at: now,
    updated_at: now,
  });
}
