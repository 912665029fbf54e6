/**
 * The write amplification of tree forwarding (part of the `forwarding` scenario).
 *
 * Since agent trees, a session's agent event is appended to its own stream and, while its run
 * runs, once more on every ancestor's stream, wrapped in one more `sub_session_event` per level:
 * a token of a run at depth d costs d + 1 appends. Before, a child's token was appended once, on
 * its parent's stream, wrapped once. Measured in the same run, on `MemoryEventLog` and on
 * `SqliteEventLog` (a WAL file in a temp dir, removed after):
 *
 * - **baseline** ("today's figure", the code before forwarding): the old `RunTracker.emit` hot
 *   path on a bare `SessionEventHub` (no `forwardWith`): check the token (`checkAgentEvent`), wrap
 *   it in one `sub_session_event`, publish it on the parent's stream and stamp it (`Date.now()`,
 *   the tracker's `lastEventAt`). One append per token.
 * - **depth d** (1, 2, 3): a real tree through `createSpawnScheduler`. `scheduler.run('root')`
 *   starts the root's run; each agent above depth d spawns one child (`request.spawner.spawnChild`)
 *   and waits for it; the agent at depth d emits the tokens (`request.emit`). d + 1 appends per token.
 *
 * In both, the tokens are emitted in one synchronous loop that is timed, then the log is flushed
 * inside the timing (SQLite's group commit, so its figure includes the write), until one subscriber
 * on the root stream, unwrapping every `sub_session_event` (a UI), has seen every token.
 * Appends per token are counted around the loop; bytes per token are the UTF-8 length of
 * `JSON.stringify(event)` of every append of one (untimed) token, what `SqliteEventLog` writes
 * in its `json` column (`CountingEventLog`). Session and run ids are UUIDs in both.
 *
 * Rows per log: tokens/s before forwarding (the mean of a measurement before and one after the
 * depths), tokens/s at each depth and its ratio to before; then appends and bytes per token.
 * Targets (same-run, depth 1 only): ≥ 0.25 × before on memory, ≥ 0.3 × on SQLite — a depth-1
 * token does twice the appends, so ~0.5 × is the most to expect.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentEvent } from '../../machines/agent-event.events.js';
import { CountingEventLog } from '../lib/counting-event-log.js';
import { nextTurn, ROOT_ID, rootSession } from '../lib/fixtures.js';
import { sample } from '../lib/stats.js';
import type { BenchConfig, Metric, ScenarioOutput } from '../lib/types.js';
import { MemoryEventLog } from '../../src/adapters/memory/memory-event-log.js';
import { MemorySessionStore } from '../../src/adapters/memory/memory-session-store.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { AgentRuntime, SessionStore } from '../../src/api/ports.js';
import { createSpawnScheduler } from '../../src/create-spawn-scheduler.js';
import { checkAgentEvent } from '../../src/scheduler/run-tracker.js';
import { SessionEventHub } from '../../src/streams/session-event-hub.js';

/** The depths measured (the run emitting the tokens is at this spawn depth; the root is 0). */
export const DEPTHS = [1, 2, 3] as const;
const RETENTION = 1000;
const TOKEN = 'tok ';

export type LogKind = 'memory' | 'sqlite';
const LOGS: readonly LogKind[] = ['memory', 'sqlite'];

/** One measured token stream. */
export interface TokenRun {
  tokensPerSec: number;
  appendsPerToken: number;
  bytesPerToken: number;
  /** Tokens that reached the root stream's subscriber (the untimed one included). */
  delivered: number;
}

/** A fresh log of `kind` (SQLite: a new file in `dir`), and how to close it. */
interface OpenedLog {
  log: CountingEventLog;
  /** For the tree: the store the scheduler uses (sharing the SQLite file with the log). */
  store: SessionStore;
  close(): void;
}

function openLog(kind: LogKind, dir: string, name: string): OpenedLog {
  if (kind === 'memory')
    return { log: new CountingEventLog(new MemoryEventLog({ retention: RETENTION })), store: new MemorySessionStore(), close: () => {} };
  const store = new SqliteSessionStore(join(dir, `${name}.db`));
  const log = new CountingEventLog(
    store.openEventLog({
      retention: RETENTION,
      onError: (error) => {
        throw error;
      },
    }),
  );
  return { log, store, close: () => store.close() };
}

/** Counts the tokens a root-stream subscriber sees, unwrapping `sub_session_event`s. */
interface TokenCounter {
  onEvent(event: AgentEvent): void;
  readonly tokens: number;
}

function tokenCounter(): TokenCounter {
  let tokens = 0;
  return {
    onEvent(event) {
      let inner = event;
      while (inner.type === 'sub_session_event') inner = inner.event;
      if (inner.type === 'token') tokens += 1;
    },
    get tokens() {
      return tokens;
    },
  };
}

/**
 * Emits one untimed token (its appends' bytes counted) and flushes; then times `count` tokens, a
 * flush, and until the root's subscriber has seen them all (a log that delivers only once its
 * batch is committed delivers after the flush). Appends per token are counted around the loop.
 */
async function timeTokens(
  log: CountingEventLog,
  seen: TokenCounter,
  count: number,
  emit: () => void,
): Promise<Omit<TokenRun, 'delivered'>> {
  log.measureBytes = true;
  const bytesBefore = log.bytes;
  const seenBefore = seen.tokens;
  emit();
  const bytesPerToken = log.bytes - bytesBefore;
  log.measureBytes = false;
  await log.inner.flush?.();
  await untilSeen(seen, seenBefore + 1);
  const target = seen.tokens + count;
  const appendsBefore = log.appends;
  const start = performance.now();
  for (let i = 0; i < count; i++) emit();
  await log.inner.flush?.();
  await untilSeen(seen, target);
  const ms = performance.now() - start;
  return { tokensPerSec: count / (ms / 1000), appendsPerToken: (log.appends - appendsBefore) / count, bytesPerToken };
}

/** Yields turns until `seen` counted `tokens` (at most 1,000 turns: a shortfall is reported by the caller's check). */
async function untilSeen(seen: TokenCounter, tokens: number): Promise<void> {
  for (let turns = 0; seen.tokens < tokens && turns < 1_000; turns++) await nextTurn();
}

/** Today's figure before forwarding: the old `RunTracker.emit` path, one wrapped append on the parent's stream. */
export async function baselineTokens(kind: LogKind, dir: string, name: string, count: number): Promise<TokenRun> {
  const opened = openLog(kind, dir, name);
  try {
    const hub = new SessionEventHub(
      opened.log,
      (error) => {
        throw error;
      },
      (error) => {
        throw error;
      },
    );
    const seen = tokenCounter();
    const subscription = hub.events$(ROOT_ID).subscribe(({ event }) => seen.onEvent(event));
    const child = randomUUID();
    const runId = randomUUID();
    // What the old tracker did per event: check, wrap, publish on the parent's stream, count and
    // stamp it (eventsSeen, lastEventAt from the system clock).
    let published = 0;
    let lastEventAt = 0;
    const result = await timeTokens(opened.log, seen, count, () => {
      const checked = checkAgentEvent({ type: 'token', content: TOKEN });
      if (!checked.ok) throw new Error(checked.error);
      const envelope = hub.publish(ROOT_ID, {
        type: 'sub_session_event',
        parent_session_id: ROOT_ID,
        child_session_id: child,
        run_id: runId,
        event: checked.event,
      });
      if (envelope === undefined) return;
      published += 1;
      lastEventAt = Date.now();
    });
    if (lastEventAt === 0) throw new Error('bench: baseline stamped no event');
    subscription.unsubscribe();
    if (published !== count + 1) throw new Error(`bench: baseline published ${published} of ${count + 1}`);
    return { ...result, delivered: seen.tokens };
  } finally {
    opened.close();
  }
}

/**
 * A chain of runs down to `depth`: each agent above it spawns one child and waits for it; the one
 * at `depth` streams the tokens and reports how that went.
 */
function chainAgent(
  depth: number,
  log: CountingEventLog,
  seen: TokenCounter,
  count: number,
  onTokens: (run: Omit<TokenRun, 'delivered'>) => void,
): AgentRuntime {
  return {
    async execute(session, request) {
      if (session.spawn_depth < depth) {
        const spawner = request.spawner;
        if (spawner === undefined) throw new Error('bench: the scheduler passed no spawner');
        await spawner.spawnChild(session.id, { title: `level ${session.spawn_depth + 1}`, prompt: 'Go one level deeper.' });
        const [summary] = await spawner.waitForChildren(session.id);
        if (summary?.status !== 'completed')
          throw new Error(`bench: child at depth ${session.spawn_depth + 1} ended ${summary?.status} ${summary?.error ?? ''}`);
      } else {
        onTokens(await timeTokens(log, seen, count, () => request.emit({ type: 'token', content: TOKEN })));
      }
      session.messages.push({ id: `${session.id}-a`, role: 'assistant', content: 'done', created_at: session.created_at });
    },
  };
}

/** A root run growing a chain to `depth` whose deepest run streams `count` tokens. */
export async function treeTokens(kind: LogKind, dir: string, name: string, depth: number, count: number): Promise<TokenRun> {
  const opened = openLog(kind, dir, name);
  try {
    let measured: Omit<TokenRun, 'delivered'> | undefined;
    const seen = tokenCounter();
    const agent = chainAgent(depth, opened.log, seen, count, (run) => (measured = run));
    const scheduler = createSpawnScheduler({ store: opened.store, agent, eventLog: opened.log, eventRetention: RETENTION });
    await opened.store.save(rootSession());
    await scheduler.start();
    let settle!: (terminal: AgentEvent) => void;
    const ended = new Promise<AgentEvent>((resolve) => (settle = resolve));
    const subscription = scheduler.events(ROOT_ID).subscribe(({ event }) => {
      seen.onEvent(event);
      // The root's own terminal event (a child's is forwarded wrapped).
      if (event.type === 'complete' || event.type === 'error') settle(event);
    });
    try {
      await scheduler.run(ROOT_ID, { message: 'go' });
      const terminal = await ended;
      if (terminal.type !== 'complete') throw new Error(`bench: depth ${depth} root run ended ${JSON.stringify(terminal)}`);
    } finally {
      subscription.unsubscribe();
      await scheduler.stop();
    }
    if (measured === undefined) throw new Error(`bench: no run at depth ${depth} streamed tokens`);
    return { ...measured, delivered: seen.tokens };
  } finally {
    opened.close();
  }
}

/** Results of one round, per log. */
type Round = Record<LogKind, { baseline: TokenRun; depths: TokenRun[] }>;

/**
 * One round: on each log, the baseline, depths 1–3 (ascending in even runs, descending in odd
 * ones) and the baseline again, each on a fresh log (and scheduler). The baseline's figure is the
 * mean of its two measurements, which bracket the depths (the first measurement of a fresh heap
 * is often the slower one). Checks that every token reached the root's subscriber and that a token
 * cost d + 1 appends (1 before forwarding); each failed check adds a line to `problems`.
 */
async function round(dir: string, counts: Record<LogKind, number>, run: number, problems: Set<string>): Promise<Round> {
  const result = {} as Round;
  for (const kind of LOGS) {
    const count = run < 0 ? Math.min(counts[kind], 20_000) : counts[kind];
    const depths: number[] = run % 2 === 0 ? [...DEPTHS] : [...DEPTHS].reverse();
    const measured = new Map<number, TokenRun>();
    const baselines: TokenRun[] = [];
    for (const [step, depth] of [0, ...depths, 0].entries()) {
      const name = `${kind}-${run < 0 ? 'warmup' : run}-${step}`;
      const got = depth === 0 ? await baselineTokens(kind, dir, name, count) : await treeTokens(kind, dir, name, depth, count);
      const label = depth === 0 ? `${kind} before forwarding` : `${kind} depth ${depth}`;
      if (got.delivered !== count + 1) problems.add(`${label}: the root's subscriber saw ${got.delivered} of ${count + 1} tokens`);
      if (got.appendsPerToken !== depth + 1) problems.add(`${label}: ${got.appendsPerToken} appends/token, expected ${depth + 1}`);
      if (depth === 0) baselines.push(got);
      else measured.set(depth, got);
    }
    const [first, last] = baselines as [TokenRun, TokenRun];
    result[kind] = {
      baseline: { ...first, tokensPerSec: (first.tokensPerSec + last.tokensPerSec) / 2 },
      depths: DEPTHS.map((depth) => measured.get(depth)!),
    };
  }
  return result;
}

/** Same-run targets on the depth-1 ratio (deeper runs are figures only). */
const TARGETS: Record<LogKind, number> = { memory: 0.25, sqlite: 0.3 };

/** The rows of the amplification part. */
function metricsOf(rounds: readonly Round[]): Metric[] {
  const metrics: Metric[] = [];
  const row = (metric: string, unit: string, samples: number[], target?: number): void => {
    metrics.push({
      scenario: 'forwarding',
      metric,
      unit,
      samples,
      ...(target === undefined ? {} : { target: { op: '>=', value: target } }),
    });
  };
  for (const kind of LOGS) {
    row(
      `tokens/s before forwarding (1 append/token), ${kind}`,
      'tok/s',
      rounds.map((r) => r[kind].baseline.tokensPerSec),
    );
    DEPTHS.forEach((depth, i) => {
      row(
        `tokens/s at depth ${depth}, ${kind}`,
        'tok/s',
        rounds.map((r) => r[kind].depths[i]!.tokensPerSec),
      );
      row(
        `depth ${depth} / before forwarding, ${kind}`,
        'x',
        rounds.map((r) => r[kind].depths[i]!.tokensPerSec / r[kind].baseline.tokensPerSec),
        depth === 1 ? TARGETS[kind] : undefined,
      );
    });
  }
  row(
    'appends/token before forwarding',
    'appends',
    rounds.map((r) => r.memory.baseline.appendsPerToken),
  );
  row(
    'bytes/token before forwarding',
    'B',
    rounds.map((r) => r.memory.baseline.bytesPerToken),
  );
  DEPTHS.forEach((depth, i) => {
    row(
      `appends/token at depth ${depth}`,
      'appends',
      rounds.map((r) => r.memory.depths[i]!.appendsPerToken),
    );
    row(
      `bytes/token at depth ${depth}`,
      'B',
      rounds.map((r) => r.memory.depths[i]!.bytesPerToken),
    );
  });
  return metrics;
}

/**
 * The amplification rows and notes of the `forwarding` scenario: 1,000,000 tokens per
 * measurement on `MemoryEventLog` and 200,000 on `SqliteEventLog` in full mode (scaled like every
 * count), one warm-up round (none in smoke mode), then `config.runs` rounds.
 */
export async function forwardingAmplification(config: BenchConfig): Promise<ScenarioOutput> {
  const counts: Record<LogKind, number> = { memory: config.count(1_000_000, 1_000), sqlite: config.count(200_000, 500) };
  const problems = new Set<string>();
  const dir = mkdtempSync(join(tmpdir(), 'sprout-bench-forwarding-'));
  let rounds: Round[];
  try {
    rounds = await sample(config.runs, config.mode === 'smoke' ? 0 : 1, async (run) => {
      const measured = await round(dir, counts, run, problems);
      if (run >= 0) {
        const figures = (kind: LogKind): string =>
          [measured[kind].baseline, ...measured[kind].depths].map((r) => `${(r.tokensPerSec / 1e3).toFixed(0)}k`).join(' / ');
        config.log(
          `forwarding amplification run ${run + 1}, tokens/s before / depth 1 / 2 / 3: memory ${figures('memory')}, sqlite ${figures('sqlite')}`,
        );
      }
      return measured;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    metrics: metricsOf(rounds),
    notes: [
      `amplification: ${counts.memory} tokens per measurement on MemoryEventLog, ${counts.sqlite} on SqliteEventLog (a WAL file in ${tmpdir()}), retention ${RETENTION}; ` +
        'one subscriber on the root stream, unwrapping sub_session_event. "before forwarding" = the old RunTracker.emit path (check, wrap once, append on ' +
        "the parent's stream) on a bare SessionEventHub, measured before and after the depths (mean); depth d = a real tree (scheduler.run('root'), " +
        'one spawnChild per level) whose run at depth d emits the tokens. Timed: the emit loop, a log flush and the delivery of every token to ' +
        'the subscriber. Bytes = UTF-8 length of ' +
        "JSON.stringify(event) of each append of one token (SQLite's json column).",
      ...[...problems].map((problem) => `amplification check failed: ${problem}`),
    ],
  };
}
