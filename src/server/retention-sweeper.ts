import { toRfc3339, type SproutClock } from '../clock.js';
import type { SessionSummary } from '../api/session-summary.js';
import { ownRunStatus } from './bamboo-live-state.js';
import { isLiveStatus } from './bamboo-session.js';
import type { SessionCatalog } from './session-catalog.js';
import type { ServerScheduler } from './server-scheduler.js';
import type { RetentionReport } from './retention-report.js';

export type { RetentionReport } from './retention-report.js';

/** True when the timestamp is before `cutoff` (ms); an unreadable one counts as recent (kept). */
function before(timestamp: string, cutoff: number): boolean {
  const at = Date.parse(timestamp);
  return !Number.isNaN(at) && at < cutoff;
}

/** One day in ms. */
const DAY_MS = 86_400_000;
/** Summaries per page while sweeping: roots, and the sessions of one tree. */
const PAGE = 200;

/** What a {@link RetentionSweeper} needs. */
export interface RetentionSweeperDeps {
  /** Ended trees idle for longer than this are deleted. */
  retainMs: number;
  /** Time between passes. */
  intervalMs: number;
  /** Every timer and reading goes through it. */
  clock: SproutClock;
  scheduler: Pick<ServerScheduler, 'getChild'>;
  catalog: Pick<SessionCatalog, 'page'>;
  /** Deletes one root and its tree (the server's delete path); resolves with the sessions deleted. */
  deleteTree: (rootId: string) => Promise<number>;
  /** Gets every pass's report. */
  onReport?: ((report: RetentionReport) => void) | undefined;
  /** Gets a failed deletion or pass. */
  onError?: ((error: unknown) => void) | undefined;
}

/** A retention policy run by the server: see {@link createRetentionSweeper}. */
export interface RetentionSweeper {
  /** Runs one pass now and then one every `intervalMs`, until {@link RetentionSweeper.stop}. Idempotent. */
  start(): void;
  /** Cancels the next pass; resolves once a pass in progress ended. */
  stop(): Promise<void>;
  /** Runs one pass now (one at a time: a pass in progress is awaited instead). */
  sweep(): Promise<RetentionReport>;
}

/**
 * Deletes **ended** root trees whose last activity is older than `retainMs`. It pages through the
 * roots oldest first (`order: 'created'`) and stops at the first one created after the cutoff (a
 * tree cannot have been idle longer than it exists), so a pass never loads every session. A tree
 * is kept while any session in it has a queued or running run (the stored `last_run_status`,
 * confirmed with `scheduler.getChild`) or was active after the cutoff (`last_activity_at`);
 * otherwise it goes through `deleteTree`, the same path as a `DELETE`.
 *
 * @example
 * const sweeper = createRetentionSweeper({ retainMs: 30 * 86_400_000, intervalMs: 3_600_000, clock, scheduler, catalog, deleteTree });
 * sweeper.start();
 */
export function createRetentionSweeper(deps: RetentionSweeperDeps): RetentionSweeper {
  let timer: unknown;
  let started = false;
  let running: Promise<RetentionReport> | undefined;

  /** True when the tree has had no activity since `cutoff` and no run in it is queued or running. */
  const isEnded = async (rootId: string, cutoff: number): Promise<boolean> => {
    let cursor: string | undefined;
    do {
      const page = await deps.catalog.page({ root: rootId, limit: PAGE, ...(cursor === undefined ? {} : { cursor }) });
      for (const session of page.items) {
        if (!before(session.last_activity_at, cutoff) || (await isRunning(session))) return false;
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return true;
  };
  const isRunning = async (session: SessionSummary): Promise<boolean> => isLiveStatus(await ownRunStatus(deps.scheduler, session));

  const pass = async (): Promise<RetentionReport> => {
    const cutoff = deps.clock.now() - deps.retainMs;
    const report: RetentionReport = { cutoff: toRfc3339(cutoff), roots: 0, sessions: 0, kept: 0, scanned: 0, failed: 0 };
    let cursor: string | undefined;
    do {
      // Keyset paging: deleting roots behind the cursor moves no later root.
      const page = await deps.catalog.page({ kind: 'root', order: 'created', limit: PAGE, ...(cursor === undefined ? {} : { cursor }) });
      for (const root of page.items) {
        if (!before(root.created_at, cutoff)) return report;
        report.scanned += 1;
        if (!before(root.last_activity_at, cutoff)) continue;
        if (!(await isEnded(root.id, cutoff))) {
          report.kept += 1;
          continue;
        }
        try {
          report.sessions += await deps.deleteTree(root.id);
          report.roots += 1;
        } catch (error) {
          report.failed += 1;
          deps.onError?.(error);
        }
      }
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    return report;
  };

  const sweep = (): Promise<RetentionReport> => {
    running ??= pass().finally(() => {
      running = undefined;
    });
    return running;
  };

  /** One pass, reported, then the next one armed (so passes never overlap). */
  const runPass = (): void => {
    timer = undefined;
    void sweep()
      .then(
        (report) => deps.onReport?.(report),
        (error: unknown) => deps.onError?.(error),
      )
      .finally(() => {
        if (started) timer = deps.clock.setTimeout(runPass, deps.intervalMs);
      });
  };

  return {
    start() {
      if (started) return;
      started = true;
      runPass();
    },
    async stop() {
      started = false;
      if (timer !== undefined) deps.clock.clearTimeout(timer);
      timer = undefined;
      await running?.catch(() => undefined);
    },
    sweep,
  };
}

/**
 * `retainDays` as milliseconds.
 *
 * @example
 * retentionMs(30); // 2_592_000_000
 */
export function retentionMs(days: number): number {
  return days * DAY_MS;
}
