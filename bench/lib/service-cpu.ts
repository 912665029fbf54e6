/**
 * CPU time of this process and of the local PostgreSQL and Redis servers over a stretch of work
 * (issue 19), read from `/proc` (Linux only): what a distributed run costs in CPU, wherever it is
 * spent. PostgreSQL's figure is the backends serving this process's connections (found by their
 * client port, which a backend shows in its title), so other users of the same server do not
 * count; it leaves out the server's shared processes (WAL writer, checkpointer). Redis's is the
 * whole `redis-server` process (its other clients included). Where `/proc` cannot be read the
 * servers' figures are `undefined`.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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

/** The command name and utime + stime (ms) of process `pid`, or `undefined` when it is gone. */
function processCpu(pid: string): { name: string; ms: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const close = stat.lastIndexOf(')');
  // Fields after the name: state is field 3, utime 14, stime 15.
  const fields = stat.slice(close + 2).split(' ');
  return { name: stat.slice(stat.indexOf('(') + 1, close), ms: ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND };
}

/** The local ports of this process's TCP sockets. */
function ownLocalPorts(): Set<number> {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      if (target.startsWith('socket:[')) inodes.add(target.slice(8, -1));
    } catch {
      // Closed meanwhile.
    }
  }
  const ports = new Set<number>();
  for (const table of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const columns = line.trim().split(/\s+/);
      if (columns.length < 10 || !inodes.has(columns[9]!)) continue;
      ports.add(Number.parseInt(columns[1]!.split(':')[1]!, 16));
    }
  }
  return ports;
}

/**
 * CPU ms by process id of the PostgreSQL backends serving this process (the client port in their
 * title) and of `redis-server`; `undefined` without `/proc`.
 */
function serverCpu(): { postgres: Map<string, number>; redis: number } | undefined {
  let pids: string[];
  let ports: Set<number>;
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry));
    ports = ownLocalPorts();
  } catch {
    return undefined;
  }
  const postgres = new Map<string, number>();
  let redis = 0;
  for (const pid of pids) {
    const cpu = processCpu(pid);
    if (cpu?.name === 'redis-server') redis += cpu.ms;
    if (cpu?.name !== 'postgres') continue;
    let title: string;
    try {
      title = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    const port = /\((\d+)\)/.exec(title)?.[1];
    if (port !== undefined && ports.has(Number(port))) postgres.set(pid, cpu.ms);
  }
  return { postgres, redis };
}

/**
 * A meter of this process's CPU (`process.cpuUsage`), of the PostgreSQL backends serving it and
 * of the local Redis server.
 *
 * @example
 * const meter = cpuMeter();
 * meter.reset(); // … work …
 * const { node, postgres, redis } = meter.read();
 */
export function cpuMeter(): CpuMeter {
  let node = process.cpuUsage();
  let servers = serverCpu();
  return {
    reset() {
      node = process.cpuUsage();
      servers = serverCpu();
    },
    read() {
      const used = process.cpuUsage(node);
      const now = serverCpu();
      const before = servers;
      let postgres: number | undefined;
      if (before !== undefined && now !== undefined) {
        // A backend that appeared meanwhile counts from zero.
        postgres = 0;
        for (const [pid, ms] of now.postgres) postgres += ms - (before.postgres.get(pid) ?? 0);
      }
      return {
        node: (used.user + used.system) / 1000,
        postgres,
        redis: before === undefined || now === undefined ? undefined : now.redis - before.redis,
      };
    },
  };
}
