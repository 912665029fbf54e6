/**
 * Client-side counters of the round trips a process makes (issue 19): PostgreSQL statements sent
 * through a `pg.Pool` (every query of every client it hands out, `BEGIN`/`COMMIT` included) and
 * Redis commands sent through any ioredis connection of this process (patched on the prototype,
 * so the connections Sprout and BullMQ open inside are counted too; pipelined commands count one
 * each, and the pipelines are counted apart). Counting on the client, not with `INFO
 * commandstats`, keeps other processes on the same Redis out of the figures.
 */
import type { Pool, PoolClient } from 'pg';
import type { Redis as RedisClient } from 'ioredis';

/** Statement counts of one or more pools. */
export interface StatementCounter {
  /** Statements sent since the last {@link reset}. */
  readonly total: number;
  /** The same, by statement kind (its first words, schema and values left out). */
  byKind(): Map<string, number>;
  reset(): void;
}

/** Kinds of the statements seen so far, by text (a process sends few distinct texts): counting stays cheap. */
const kindsByText = new Map<string, string>();

/** Normalizes a statement to a short kind: `INSERT events`, `SELECT open_runs`, `BEGIN`. */
function statementKind(text: string): string {
  let kind = kindsByText.get(text);
  if (kind === undefined) {
    kind = kindOf(text);
    if (kindsByText.size < 10_000) kindsByText.set(text, kind);
  }
  return kind;
}

function kindOf(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  const verb = (
    /^(WITH|INSERT|UPDATE|DELETE|SELECT|BEGIN|COMMIT|ROLLBACK|LISTEN|SET|CALL)\b/i.exec(flat)?.[1] ?? flat.slice(0, 12)
  ).toUpperCase();
  const table = /"[^"]+"\.(\w+)/.exec(flat)?.[1];
  if (verb === 'SELECT' && /pg_notify/.test(flat)) return 'SELECT pg_notify';
  return table === undefined ? verb : `${verb} ${table}`;
}

/**
 * Counts every statement the pools' clients send (wraps `query` of each client when it connects,
 * which `pool.query` also goes through).
 *
 * @example
 * const counter = countStatements([pool]);
 * await pool.query('SELECT 1');
 * counter.total; // 1
 */
export function countStatements(pools: readonly Pool[]): StatementCounter {
  let total = 0;
  let kinds = new Map<string, number>();
  const wrapped = new WeakSet<PoolClient>();
  for (const pool of pools) {
    pool.on('connect', (client) => {
      if (wrapped.has(client)) return;
      wrapped.add(client);
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
        total++;
        const first = args[0];
        const text = typeof first === 'string' ? first : ((first as { text?: string } | undefined)?.text ?? '?');
        const kind = statementKind(text);
        kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
        return query(...args);
      };
    });
  }
  return {
    get total() {
      return total;
    },
    byKind: () => new Map(kinds),
    reset() {
      total = 0;
      kinds = new Map();
    },
  };
}

/** Command counts of every ioredis connection of this process. */
export interface CommandCounter {
  /** Commands sent since the last {@link reset} (each command of a pipeline counted). */
  readonly total: number;
  /** Pipelines (and MULTI blocks) sent since the last reset; `total - commandsInPipelines + pipelines` is the round trips. */
  readonly pipelines: number;
  readonly commandsInPipelines: number;
  /** By command and key family (`evalsha runs:…`, `set sprout:taken`). */
  byKind(): Map<string, number>;
  reset(): void;
  /** Puts the prototypes back. */
  restore(): void;
}

/** `prefix:sprout:live:child` → `sprout:live`; `prefix:runs:wait` → `runs:wait`; BullMQ job keys → `runs:<job>`. */
function keyFamily(key: string, prefix: string): string {
  const rest = key.startsWith(`${prefix}:`) ? key.slice(prefix.length + 1) : key;
  const parts = rest.split(':');
  if (parts[0] === 'runs' && parts.length >= 3) return /^[a-z-]+$/i.test(parts[2]!) ? `runs:${parts[2]}` : 'runs:<job>';
  return parts.slice(0, 2).join(':');
}

/**
 * Patches ioredis (`Redis.prototype.sendCommand`, `Pipeline.prototype.exec`) to count what every
 * connection of this process sends, except those named `exclude` (`connectionName`), e.g. the
 * benchmark's own probes.
 *
 * @example
 * const counter = await countRedisCommands('sprout_bench', 'bench-probe');
 * counter.reset(); // … work …
 * console.log(counter.total);
 * counter.restore();
 */
export async function countRedisCommands(prefix: string, exclude: string): Promise<CommandCounter> {
  const ioredis = (await import('ioredis')) as unknown as { Redis: { prototype: RedisClient } };
  type PipelineClass = { prototype: { exec: (...args: unknown[]) => unknown } };
  // A CommonJS module: its `exports.default` is under the namespace's `default`.
  const pipelineModule = (await import('ioredis/built/Pipeline.js')) as unknown as { default: PipelineClass | { default: PipelineClass } };
  const Pipeline = 'default' in pipelineModule.default ? pipelineModule.default.default : pipelineModule.default;
  const proto = ioredis.Redis.prototype as unknown as {
    sendCommand: (command: { name: string; args: unknown[] }, ...rest: unknown[]) => unknown;
    options?: { connectionName?: string };
  };
  const sendCommand = proto.sendCommand;
  const exec = Pipeline.prototype.exec;
  let total = 0;
  let pipelines = 0;
  let commandsInPipelines = 0;
  let kinds = new Map<string, number>();
  proto.sendCommand = function (this: typeof proto, command, ...rest) {
    if (this.options?.connectionName !== exclude) {
      total++;
      const name = command.name.toLowerCase();
      const args = command.args;
      const key = name === 'evalsha' || name === 'eval' ? args[2] : args[0];
      const kind = typeof key === 'string' || Buffer.isBuffer(key) ? `${name} ${keyFamily(String(key), prefix)}` : name;
      kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
    }
    return sendCommand.call(this, command, ...rest);
  };
  Pipeline.prototype.exec = function (this: { redis?: typeof proto; _queue?: unknown[] }, ...args: unknown[]) {
    if (this.redis?.options?.connectionName !== exclude) {
      pipelines++;
      commandsInPipelines += this._queue?.length ?? 0;
    }
    return exec.apply(this, args);
  };
  return {
    get total() {
      return total;
    },
    get pipelines() {
      return pipelines;
    },
    get commandsInPipelines() {
      return commandsInPipelines;
    },
    byKind: () => new Map(kinds),
    reset() {
      total = 0;
      pipelines = 0;
      commandsInPipelines = 0;
      kinds = new Map();
    },
    restore() {
      proto.sendCommand = sendCommand;
      Pipeline.prototype.exec = exec;
    },
  };
}

/** The `top` biggest entries, as `kind ×count/run` text. */
export function topKinds(kinds: Map<string, number>, perRun: number, top = 12): string {
  return [...kinds.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([kind, count]) => `${kind} ${(count / perRun).toFixed(2)}`)
    .join(', ');
}
