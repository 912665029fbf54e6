import { Listr, type ListrTask } from 'listr2';
import { systemClock } from '../clock.js';
import { elapsedOf, excerpt, seconds, type ChildProgress, type ChildRow } from './child-progress.js';
import type { DemoView, TextOut } from './demo-view.js';

/** Options of {@link createLiveProgressView}. */
export interface LiveProgressViewOptions {
  now: () => number;
  /** How often rows are redrawn between events (elapsed time, heartbeat age). @default 250 */
  refreshMs?: number;
}

const TITLE_WIDTH = 24;

/** One row of text for a child: title, state, tokens, tool calls, last heartbeat, elapsed. */
export function formatLiveRow(row: ChildRow, now: number): string {
  const title = excerpt(row.title, TITLE_WIDTH).padEnd(TITLE_WIDTH);
  const tools = `${row.toolCalls} tool${row.toolCalls === 1 ? '' : 's'}${row.activeTool === undefined ? '' : ` (${row.activeTool}…)`}`;
  const live = row.state === 'queued' || row.state === 'running';
  const heartbeat = !live ? '' : row.lastHeartbeatAt === undefined ? 'hb –' : `hb ${seconds(now - row.lastHeartbeatAt)} ago`;
  const cells = [title, row.state.padEnd(9), `${String(row.tokens).padStart(3)} tok`, tools.padEnd(22), heartbeat.padEnd(13), seconds(elapsedOf(row, now)).padStart(6)];
  if (row.state === 'completed') cells.push(`“${excerpt(row.result, 40)}”`);
  else if (row.state === 'error' || row.state === 'skipped') cells.push(excerpt(row.error, 60));
  else if (row.state === 'cancelled') cells.push(`reason ${row.reason ?? 'user'}`);
  return cells.join('  ').trimEnd();
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
  const waiters = new Map<string, { title: (text: string) => void; end: () => void }>();
  const ended = new Set<string>();
  let progress: ChildProgress | undefined;
  let listr: Promise<void> | undefined;
  let timer: unknown;
  let drawing = false;

  const refresh = (row: ChildRow): void => {
    waiters.get(row.childSessionId)?.title(formatLiveRow(row, now()));
    if (row.state !== 'queued' && row.state !== 'running') {
      ended.add(row.childSessionId);
      waiters.get(row.childSessionId)?.end();
    }
  };

  const taskFor = (row: ChildRow): ListrTask => ({
    title: formatLiveRow(row, now()),
    task: (_ctx, task) =>
      new Promise<void>((resolve, reject) => {
        const end = (): void => {
          task.title = formatLiveRow(row, now());
          if (row.state === 'completed') resolve();
          else if (row.state === 'cancelled' || row.state === 'skipped') {
            task.skip(formatLiveRow(row, now()));
            resolve();
          } else reject(new Error(formatLiveRow(row, now())));
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
        rendererOptions: { formatOutput: 'truncate', collapseErrors: true, showErrorMessage: true, collapseSkips: true, showSkipMessage: true, suffixSkips: false },
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
