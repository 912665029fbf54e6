/**
 * CPU time of this process and of the local PostgreSQL and Redis servers over a stretch of work
 * (issue 19), read from `/proc` (Linux only): what a distributed run costs in CPU, wherever it is
 * spent. The servers' figures are the sum over every process named `postgres` / `redis-server`
 * (their other clients included: run it on a machine where nothing else uses them). Where `/proc`
 * cannot be read the servers' figures are `undefined`.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** CPU milliseconds spent since {@link CpuMeter.reset}. */
export interface CpuSplit {
  node: number;
  postgres: number | undefined;
  redis: number | undefined;
}

/** Measures CPU time from a {@link CpuMeter.reset} to a {@link CpuMeter.read}. */
export interface CpuMeter {
  reset(): void;
  read(): CpuSplit;
}

/** Clock ticks per second of `/proc/<pid>/stat` (USER_HZ: 100 on every Linux of note). */
const TICKS_PER_SECOND = 100;

/** utime + stime (ms) of every process whose command name is one of `names`, by name; `undefined` without `/proc`. */
function serverCpuMs(names: readonly string[]): Map<string, number> | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
  } catch {
    return undefined;
  }
  const totals = new Map<string, number>(names.map((name) => [name, 0]));
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // Exited meanwhile.
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const name = stat.slice(open + 1, close);
    if (!totals.has(name)) continue;
    // Fields after the name: state is field 3, utime 14, stime 15.
    const fields = stat.slice(close + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    totals.set(name, totals.get(name)! + (ticks * 1000) / TICKS_PER_SECOND);
  }
  return totals;
}

/**
 * A meter of this process's CPU (`process.cpuUsage`) and the local PostgreSQL and Redis servers'.
 *
 * @example
 * const meter = cpuMeter();
 * meter.reset(); // … work …
 * const { node, postgres, redis } = meter.read();
 */
export function cpuMeter(): CpuMeter {
  const names = ['postgres', 'redis-server'] as const;
  let node = process.cpuUsage();
  let servers = serverCpuMs(names);
  return {
    reset() {
      node = process.cpuUsage();
      servers = serverCpuMs(names);
    },
    read() {
      const used = process.cpuUsage(node);
      const now = serverCpuMs(names);
      const delta = (name: string): number | undefined =>
        servers === undefined || now === undefined ? undefined : now.get(name)! - servers.get(name)!;
      return { node: (used.user + used.system) / 1000, postgres: delta('postgres'), redis: delta('redis-server') };
    },
  };
}
