import { Listr, type ListrTask } from 'listr2';
import { systemClock } from '../clock.js';
import { elapsedOf, excerpt, seconds, type ChildProgress, type ChildRow } from './child-progress.js';
import type { DemoView, TextOut } from './demo-view.js';

/** Options of {@link createLiveProgressView}. */
export interface LiveProgressViewOptions {
  now: () => number;
  /** How often rows are redrawn between events (elapsed time, heartbeat age). @default 250 */
  refreshMs?: number;
  /** Terminal width for the rows. @default process.stdout.columns, else 80 */
  columns?: () => number | undefined;
}

const TITLE_WIDTH = 24;
/** listr2 draws a status symbol and a space before each row and cuts rows 2 columns short of the edge (plus a margin for wide quote marks). */
const ROW_PREFIX = 6;
/** Narrowest space kept for the answer / error / reason at the end of an ended row. */
const MIN_TAIL = 10;

/**
 * One row of text for a child, fitted to `columns`: title, state, elapsed time, tokens, tool
 * calls, then the last heartbeat while live, or the answer / error / reason once ended (cut to
 * what is left of the line). The elapsed time comes early, so a narrow terminal (80 columns)
 * keeps it and the start of the answer.
 */
export function formatLiveRow(row: ChildRow, now: number, columns = 120): string {
  const live = row.state === 'queued' || row.state === 'running';
  const active = row.activeTool === undefined ? '' : ` (${excerpt(row.activeTool, 14)}…)`;
  const tools = `${row.toolCalls} tool${row.toolCalls === 1 ? '' : 's'}${active}`;
  const head = [
    excerpt(row.title, TITLE_WIDTH).padEnd(TITLE_WIDTH),
    row.state.padEnd(9),
    seconds(elapsedOf(row, now)).padStart(6),
    `${String(row.tokens).padStart(3)} tok`,
    tools.padEnd(live ? 8 : 7),
  ].join('  ');
  const room = Math.max(MIN_TAIL, columns - ROW_PREFIX - head.length - 2);
  let tail = '';
  if (live) tail = row.lastHeartbeatAt === undefined ? 'hb –' : `hb ${seconds(now - row.lastHeartbeatAt)} ago`;
  else if (row.state === 'completed') tail = row.result === undefined ? '' : `“${excerpt(row.result, room - 2)}”`;
  else if (row.state === 'error' || row.state === 'skipped') tail = excerpt(row.error, room);
  else tail = `reason ${row.reason ?? 'user'}`;
  return `${head}  ${tail}`.trimEnd();
}

/**
 * Live progress on a terminal, one row per child, drawn by listr2 (its default renderer redraws
 * in place with log-update): a spinner while queued or running, then ✔ completed, ✖ error or
 * ↓ cancelled/skipped. Rows are refreshed on every event and every `refreshMs`.
 *
 * Each listr2 task mirrors one child; the scheduler, not listr2, decides what runs (the tasks are
 * all "concurrent" and just wait for their child's completion). listr2 draws on `process.stdout`
 * (pick this view only when that is a terminal); `stdout` is for the notes.
 *
 * @example
 * const view = createLiveProgressView(process.stdout, { now: Date.now });
 */
export function createLiveProgressView(stdout: TextOut, options: LiveProgressViewOptions): DemoView {
  const { now } = options;
  // listr2 draws on process.stdout; rows are fitted to its width, read at every redraw (resizes).
  const columns = (): number => options.columns?.() ?? process.stdout.columns ?? 80;
  const format = (row: ChildRow, at: number): string => formatLiveRow(row, at, columns());
  const waiters = new Map<string, { title: (text: string) => void; end: () => void }>();
  const ended = new Set<string>();
  let progress: ChildProgress | undefined;
  let listr: Promise<void> | undefined;
  let timer: unknown;
  let drawing = false;

  // A row is drawn one last time when it ends, never after: once every task ended, listr2 prints
  // the final block itself, and a title set after that would redraw the rows a second time.
  const refresh = (row: ChildRow): void => {
    if (ended.has(row.childSessionId)) return;
    waiters.get(row.childSessionId)?.title(format(row, now()));
    if (row.state !== 'queued' && row.state !== 'running') {
      ended.add(row.childSessionId);
      waiters.get(row.childSessionId)?.end();
    }
  };

  const taskFor = (row: ChildRow): ListrTask => ({
    title: format(row, now()),
    task: (_ctx, task) =>
      new Promise<void>((resolve, reject) => {
        const end = (): void => {
          task.title = format(row, now());
          if (row.state === 'completed') resolve();
          else if (row.state === 'cancelled' || row.state === 'skipped') {
            task.skip(format(row, now()));
            resolve();
          } else reject(new Error(format(row, now())));
        };
        waiters.set(row.childSessionId, { title: (text) => (task.title = text), end });
        if (ended.has(row.childSessionId)) end();
      }),
  });

  return {
    note: (text) => stdout.write(`${text}\n`),
    onEnvelope(_envelope, row) {
      if (row) refresh(row);
    },
    start(childProgress) {
      progress = childProgress;
      const rows = progress.rows();
      for (const row of rows) if (row.state !== 'queued' && row.state !== 'running') ended.add(row.childSessionId);
      const list = new Listr(rows.map(taskFor), {
        concurrent: true,
        exitOnError: false,
        registerSignalListeners: false,
        rendererOptions: {
          formatOutput: 'truncate',
          collapseErrors: true,
          showErrorMessage: true,
          collapseSkips: true,
          showSkipMessage: true,
          suffixSkips: false,
        },
      });
      listr = list.run().then(
        () => undefined,
        () => undefined,
      );
      drawing = true;
      const tick = (): void => {
        if (!drawing) return;
        for (const row of progress?.rows() ?? []) if (row.state === 'queued' || row.state === 'running') refresh(row);
        timer = systemClock.setTimeout(tick, options.refreshMs ?? 250);
      };
      tick();
    },
    async finish() {
      drawing = false;
      if (timer !== undefined) systemClock.clearTimeout(timer);
      for (const row of progress?.rows() ?? []) {
        if (ended.has(row.childSessionId)) continue;
        refresh(row);
        // A row that never saw its completion must not keep listr2 waiting: it ends as a failure.
        if (!ended.has(row.childSessionId)) {
          ended.add(row.childSessionId);
          waiters.get(row.childSessionId)?.end();
        }
      }
      await listr;
    },
  };
}
