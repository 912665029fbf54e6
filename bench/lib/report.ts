/** The results table (stdout) and `bench/results.json`. */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, totalmem } from 'node:os';
import type { ScenarioResult } from './run-scenario.js';
import { median, statusOf } from './stats.js';
import type { Metric, Mode } from './types.js';

/** The commit measured, and whether src/ or machines/ had uncommitted changes. */
export function sourceInfo(): { commit: string; dirty: boolean } | undefined {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const status = execFileSync('git', ['status', '--porcelain', '--', 'src', 'machines'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return { commit, dirty: status.trim().length > 0 };
  } catch {
    return undefined;
  }
}

/** The machine the figures come from. */
export function machineInfo() {
  const cpu = cpus();
  return {
    nproc: cpu.length,
    cpu: cpu[0]?.model ?? 'unknown',
    node: process.version,
    v8: process.versions.v8,
    platform: `${process.platform} ${process.arch}`,
    totalMemGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    loadAvg1m: Math.round(loadavg()[0]! * 100) / 100,
  };
}

/** A number for the table: thousands separators, 2–3 significant digits for small values. */
export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1000) return Math.round(value).toLocaleString('en-US');
  if (abs >= 100) return value.toFixed(0);
  if (abs >= 10) return value.toFixed(1);
  if (abs >= 1) return value.toFixed(2);
  return value.toPrecision(2);
}

const targetText = (metric: Metric): string =>
  metric.target ? `${metric.target.op === '>=' ? '≥' : '≤'} ${formatNumber(metric.target.value)} ${metric.unit}` : '';

/** One printed / stored row. */
export interface Row {
  scenario: string;
  metric: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  n: number;
  target: string;
  status: 'pass' | 'miss' | 'info' | 'skipped' | 'error';
  note: string | undefined;
}

/** One row per metric, as printed and stored. */
export function rowsOf(results: readonly ScenarioResult[]): Row[] {
  return results.flatMap((result): Row[] => {
    if (result.error !== undefined) {
      return [
        {
          scenario: result.scenario,
          metric: 'CRASHED',
          unit: '',
          median: Number.NaN,
          min: Number.NaN,
          max: Number.NaN,
          n: 0,
          target: '',
          status: 'error',
          note: result.error.split('\n')[0],
        },
      ];
    }
    return result.metrics.map((metric) => ({
      scenario: metric.scenario,
      metric: metric.metric,
      unit: metric.unit,
      median: median(metric.samples),
      min: metric.samples.length ? Math.min(...metric.samples) : Number.NaN,
      max: metric.samples.length ? Math.max(...metric.samples) : Number.NaN,
      n: metric.samples.length,
      target: targetText(metric),
      status: statusOf(metric),
      note: metric.skipped ?? metric.note,
    }));
  });
}

/** The table as Markdown (printed as is: it reads fine in a terminal and pastes into docs). */
export function renderTable(results: readonly ScenarioResult[]): string {
  const header = ['scenario', 'metric', 'median', 'min', 'max', 'n', 'target', 'result'];
  const lines = rowsOf(results).map((row) => {
    const unit = row.unit ? ` ${row.unit}` : '';
    const result = row.status === 'skipped' || row.status === 'error' ? `${row.status}: ${row.note ?? ''}` : row.status;
    if (row.n === 0) return [row.scenario, row.metric, '–', '–', '–', '0', row.target, result];
    return [
      row.scenario,
      row.metric,
      `${formatNumber(row.median)}${unit}`,
      formatNumber(row.min),
      formatNumber(row.max),
      String(row.n),
      row.target,
      result,
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [fmt(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

/** The JSON written to `bench/results.json`. */
export function resultsJson(
  results: readonly ScenarioResult[],
  meta: {
    mode: Mode;
    runs: number;
    scale: number;
    command: string;
    startedAt: string;
    machine: ReturnType<typeof machineInfo>;
    source: ReturnType<typeof sourceInfo>;
  },
) {
  return {
    ...meta,
    rows: rowsOf(results),
    scenarios: results.map((result) => ({
      scenario: result.scenario,
      durationMs: Math.round(result.durationMs),
      notes: result.notes,
      ...(result.error === undefined ? {} : { error: result.error }),
      metrics: result.metrics.map((metric) => ({ ...metric, median: median(metric.samples), status: statusOf(metric) })),
    })),
  };
}
