/** Small statistics and measurement helpers. */
import type { Metric, Target } from './types.js';
import { nextTurn } from './fixtures.js';

/** The median (mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The `p`th percentile (0–100), nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/** True when the median meets the target. */
export function meets(value: number, target: Target): boolean {
  return target.op === '>=' ? value >= target.value : value <= target.value;
}

/** Pass / miss / info / skipped for a row. */
export function statusOf(metric: Metric): 'pass' | 'miss' | 'info' | 'skipped' {
  if (metric.skipped !== undefined) return 'skipped';
  if (!metric.target) return 'info';
  return meets(median(metric.samples), metric.target) ? 'pass' : 'miss';
}

/** True when the process runs with `--expose-gc`. */
export const hasGc = (): boolean => typeof globalThis.gc === 'function';

/** Full GC (twice, with a macrotask turn in between so finalizers and weak refs settle). */
export async function collect(): Promise<void> {
  if (!hasGc()) return;
  globalThis.gc!();
  await nextTurn();
  globalThis.gc!();
}

/** `heapUsed` after a full GC, in bytes. */
export async function heapAfterGc(): Promise<number> {
  await collect();
  return process.memoryUsage().heapUsed;
}

/** Runs `body` `runs` times (after `warmup` untimed calls) and collects what it returns. */
export async function sample<T>(runs: number, warmup: number, body: (run: number) => Promise<T>): Promise<T[]> {
  for (let i = 0; i < warmup; i++) await body(-1 - i);
  const out: T[] = [];
  for (let i = 0; i < runs; i++) {
    await collect();
    out.push(await body(i));
  }
  return out;
}
