import { excerpt, seconds, type ChildRow } from './child-progress.js';
import type { DemoChildPlan } from './demo-plan.js';
import { formatTable } from './format-table.js';

/** One child's outcome against the plan. */
export interface ChildVerdict {
  title: string;
  childSessionId: string;
  expected: DemoChildPlan['expected'];
  /** The status of the completion, or `missing` / `repeated` when there was not exactly one. */
  actual: string;
  ok: boolean;
}

/**
 * Compares each child's run with the plan: the right status and exactly one completion.
 *
 * @example
 * const verdicts = judgeDemo(plan.children, progress.rows());
 * const ok = verdicts.every((verdict) => verdict.ok);
 */
export function judgeDemo(plans: readonly DemoChildPlan[], rows: readonly ChildRow[]): ChildVerdict[] {
  const byTitle = new Map(rows.map((row) => [row.title, row]));
  return plans.map((plan) => {
    const row = byTitle.get(plan.title);
    const actual = !row || row.completions === 0 ? 'missing' : row.completions > 1 ? 'repeated' : row.state;
    return { title: plan.title, childSessionId: row?.childSessionId ?? '', expected: plan.expected, actual, ok: actual === plan.expected };
  });
}

/** Run duration of a row (`-` when it never ran). */
const durationOf = (row: ChildRow): string =>
  row.startedAt === undefined || row.endedAt === undefined ? '-' : seconds(row.endedAt - row.startedAt);

/**
 * The summary table printed at the end of `sprout demo`: status (and whether it was the expected
 * one), duration, counts, and an excerpt of the answer or the error.
 *
 * @example
 * stdout.write(`${formatDemoSummary(progress.rows(), verdicts)}\n`);
 */
export function formatDemoSummary(rows: readonly ChildRow[], verdicts: readonly ChildVerdict[]): string {
  const verdictOf = new Map(verdicts.map((verdict) => [verdict.title, verdict]));
  const body = rows.map((row) => {
    const verdict = verdictOf.get(row.title);
    const status = verdict && !verdict.ok ? `${row.state} (expected ${verdict.expected})` : row.state;
    const outcome =
      row.state === 'completed'
        ? excerpt(row.result, 60)
        : row.state === 'cancelled'
          ? `cancelled (${row.reason ?? 'user'})`
          : excerpt(row.error, 60);
    return [
      row.childSessionId.slice(0, 8),
      excerpt(row.title, 28),
      status,
      durationOf(row),
      String(row.tokens),
      String(row.toolCalls),
      outcome,
    ];
  });
  return formatTable(['CHILD', 'TITLE', 'STATUS', 'DURATION', 'TOKENS', 'TOOLS', 'ANSWER / ERROR'], body);
}
