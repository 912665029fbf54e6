import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { SqliteEventLog } from '../../src/adapters/sqlite/sqlite-event-log.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { SpawnSchedulerOptions } from '../../src/api/spawn-scheduler-options.js';
import { createSpawnScheduler, type SpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { EventLog } from '../../src/streams/event-log.js';
import { scriptedAgent, type ScriptStep, type ScriptedAgent } from '../../src/testing/scripted-agent.js';
import { createTestClock, type TestClock } from '../../src/testing/simulated-clock.js';
import { FlakyStore } from './flaky-store.js';

type Started = Extract<AgentEvent, { type: 'sub_session_started' }>;
type Completed = Extract<AgentEvent, { type: 'sub_session_completed' }>;

/** Which event log the schedulers of a {@link RestartableEnv} share. */
export type LogKind = 'memory' | 'sqlite';

/**
 * One store, one clock, one agent and one event log that several schedulers use one after the
 * other: a process restarting on the same data. A memory log is kept across restarts (a log
 * declared non-durable that happens to survive); a SQLite log is closed and opened again on its
 * file, as a new process would.
 */
export interface RestartableEnv {
  readonly store: FlakyStore;
  readonly clock: TestClock;
  readonly agent: ScriptedAgent;
  /** Scripts by session title, else id (default: a few tokens, then the answer). */
  readonly scripts: Map<string, ScriptStep[]>;
  log(): EventLog;
  /** A new scheduler on the current log (the SQLite log reopened first when `restart`). */
  scheduler(options?: Partial<SpawnSchedulerOptions>, restart?: boolean): SpawnScheduler;
  /** Closes the SQLite file and removes its temp directory. */
  cleanup(): void;
}

/** Events kept per session: far more than any scenario writes, so nothing is truncated. */
const RETENTION = 1_000_000;

/** Creates a {@link RestartableEnv} (remember `cleanup()`). */
export function createRestartableEnv(kind: LogKind): RestartableEnv {
  const store = new FlakyStore();
  const clock = createTestClock();
  const scripts = new Map<string, ScriptStep[]>();
  const agent = scriptedAgent({
    clock,
    script: (session) => scripts.get(session.title) ?? scripts.get(session.id) ?? [{ tokens: 'some work' }],
    answer: 'the answer',
  });
  let dir: string | undefined;
  let db: SqliteSessionStore | undefined;
  let log: EventLog;
  const open = (): EventLog => {
    if (dir === undefined) return new MemoryEventLog({ retention: RETENTION });
    db?.close();
    db = new SqliteSessionStore(join(dir, 'sprout.db'));
    return new SqliteEventLog(db, { retention: RETENTION });
  };
  if (kind === 'sqlite') dir = mkdtempSync(join(tmpdir(), 'sprout-ownership-'));
  log = open();
  let ids = 0;
  return {
    store,
    clock,
    agent,
    scripts,
    log: () => log,
    scheduler(options = {}, restart = false) {
      if (restart && kind === 'sqlite') log = open();
      return createSpawnScheduler({ store, agent, clock, eventLog: log, createId: () => `id-${++ids}`, ...options });
    },
    cleanup() {
      db?.close();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** What one child's runs look like on its parent's stream. */
export interface ChildStream {
  started: Started[];
  completed: Completed[];
}

/** The `sub_session_started` / `sub_session_completed` events of every child on `parentSessionId`'s stream. */
export async function childStreams(log: EventLog, parentSessionId: string): Promise<Map<string, ChildStream>> {
  const { envelopes } = await Promise.resolve(log.read(parentSessionId, 0));
  const byChild = new Map<string, ChildStream>();
  const of = (id: string): ChildStream => {
    let entry = byChild.get(id);
    if (!entry) byChild.set(id, (entry = { started: [], completed: [] }));
    return entry;
  };
  for (const { event } of envelopes) {
    if (event.type === 'sub_session_started') of(event.child_session_id).started.push(event);
    else if (event.type === 'sub_session_completed') of(event.child_session_id).completed.push(event);
  }
  return byChild;
}

/** What {@link contractViolations} checks besides the stream's own rules. */
export interface ContractCheck {
  /** Every announced run has ended (no scheduler holds one any more). @default true */
  ended?: boolean;
  /** The stored status must agree with the stream (after a restart, or once slow saves landed). @default true */
  storeAgrees?: boolean;
}

/**
 * The run-ownership contract, for every child under `roots` (stored, or seen on a root's stream):
 * exactly one `sub_session_completed` per run id; none for a run that never got its
 * `sub_session_started`, and none before it; every started run ended (`ended`); and the stored
 * `last_run_status` / `last_run_id` equal to the last completion (`storeAgrees`). A child with no
 * completion never started a run: it may be stored `pending` (or without run metadata), or be
 * gone (a refused spawn deletes its child). Returns one line per violation.
 */
export async function contractViolations(env: RestartableEnv, roots: readonly string[], check: ContractCheck = {}): Promise<string[]> {
  const { ended = true, storeAgrees = true } = check;
  const violations: string[] = [];
  for (const root of roots) {
    const streams = await childStreams(env.log(), root);
    const ids = new Set([...streams.keys(), ...(await env.store.listChildren(root)).map((child) => child.id)]);
    for (const id of ids) {
      const { started, completed } = streams.get(id) ?? { started: [], completed: [] };
      const startedRuns = started.map((event) => event.run_id);
      if (new Set(startedRuns).size !== startedRuns.length) violations.push(`${id}: a run id announced twice (${startedRuns.join(', ')})`);
      const seen = new Map<string, number>();
      for (const completion of completed) seen.set(completion.run_id, (seen.get(completion.run_id) ?? 0) + 1);
      for (const [runId, count] of seen) {
        if (count !== 1) violations.push(`${id}: ${count} completions of run ${runId}`);
        if (!startedRuns.includes(runId)) violations.push(`${id}: completion of run ${runId}, which never got sub_session_started`);
      }
      if (ended) {
        for (const runId of startedRuns) if (!seen.has(runId)) violations.push(`${id}: run ${runId} started and never completed`);
      }
      if (!storeAgrees) continue;
      const stored = await env.store.load(id);
      const last = completed.at(-1);
      const status = stored?.metadata.last_run_status;
      const runId = stored?.metadata.last_run_id;
      if (last === undefined) {
        if (stored !== undefined && status !== undefined && status !== 'pending') {
          violations.push(`${id}: stored ${status}/${runId ?? '-'} but its parent heard of no run`);
        }
      } else if (stored === undefined) {
        violations.push(`${id}: deleted, though its run ${last.run_id} ended ${last.status}`);
      } else if (status !== last.status || runId !== last.run_id) {
        violations.push(`${id}: stored ${status ?? '-'}/${runId ?? '-'}, stream's last completion ${last.status}/${last.run_id}`);
      }
    }
  }
  return violations;
}

/** Every completion on the streams of `roots`. */
export async function completionCount(log: EventLog, roots: readonly string[]): Promise<number> {
  let count = 0;
  for (const root of roots) for (const stream of (await childStreams(log, root)).values()) count += stream.completed.length;
  return count;
}

/** Every `sub_session_started` on the streams of `roots`. */
export async function startedCount(log: EventLog, roots: readonly string[]): Promise<number> {
  let count = 0;
  for (const root of roots) for (const stream of (await childStreams(log, root)).values()) count += stream.started.length;
  return count;
}
