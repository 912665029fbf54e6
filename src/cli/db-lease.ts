import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { resolve } from 'node:path';
import { toRfc3339, systemClock } from '../clock.js';
import { CliUsageError } from './cli-error.js';

/** Who holds a database file: written next to it while a `sprout` process runs a scheduler on it. */
export interface DbOwner {
  pid: number;
  command: string;
  started_at: string;
  /** Whether that process is still alive (false: it was killed and left the file behind). */
  alive: boolean;
}

/** A held lease; `release()` removes the lock file. */
export interface DbLease {
  release(): void;
}

/** The lock file of a database file. */
export const leasePathOf = (dbPath: string): string => `${resolve(dbPath)}.lock`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The process that holds `dbPath`, if its lock file exists (`alive: false` for one that was
 * killed). Unreadable lock files read as held by nobody.
 *
 * @example
 * const owner = readDbOwner('.sprout/sprout.db'); // { pid: 4242, command: 'demo', alive: true, … }
 */
export function readDbOwner(dbPath: string): DbOwner | undefined {
  try {
    const parsed = JSON.parse(readFileSync(leasePathOf(dbPath), 'utf8')) as Partial<DbOwner>;
    if (typeof parsed.pid !== 'number') return undefined;
    return {
      pid: parsed.pid,
      command: String(parsed.command ?? '?'),
      started_at: String(parsed.started_at ?? ''),
      alive: parsed.pid === process.pid || isAlive(parsed.pid),
    };
  } catch {
    return undefined;
  }
}

/**
 * Claims `dbPath` for a command that runs a scheduler on it. Two schedulers on one file would
 * each take the other's runs for interrupted ones, so a second live claimant is refused with a
 * one-line {@link CliUsageError}; a lock left by a killed process is taken over (its runs are
 * then reconciled by `scheduler.start()`). Released on `release()` or process exit.
 *
 * @example
 * const lease = acquireDbLease('.sprout/sprout.db', 'demo');
 * try { await runDemo(); } finally { lease.release(); }
 */
export function acquireDbLease(dbPath: string, command: string): DbLease {
  // An in-memory database belongs to this process alone: nothing to lock.
  if (dbPath === ':memory:') return { release: () => {} };
  const path = leasePathOf(dbPath);
  const body = JSON.stringify({ pid: process.pid, command, started_at: toRfc3339(systemClock.now()) });
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, body);
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        throw new CliUsageError(`cannot lock ${dbPath}: ${(error as Error).message.split('\n')[0] ?? 'unknown error'}`, { cause: error });
      }
      const owner = readDbOwner(dbPath);
      if (owner?.alive === true) {
        throw new CliUsageError(`${dbPath} is in use by sprout ${owner.command} (pid ${owner.pid}); wait for it or use another --db`);
      }
      unlinkSync(path);
    }
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off('exit', release);
    try {
      if (readDbOwner(dbPath)?.pid === process.pid) unlinkSync(path);
    } catch {
      // Already gone: nothing to release.
    }
  };
  process.on('exit', release);
  return { release };
}
