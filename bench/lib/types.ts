/** Shared types of the benchmark runner and its scenarios. */

/** `full`: the counts; `quick`: scaled down; `smoke`: tiny counts for CI, one run. */
export type Mode = 'full' | 'quick' | 'smoke';

/** What a scenario is run with. */
export interface BenchConfig {
  mode: Mode;
  /** Measured runs per figure (after one untimed warm-up run, except in smoke mode). */
  runs: number;
  /** Multiplies every count (`--scale` / `BENCH_SCALE`); 1 in full mode. */
  scale: number;
  /** Scales a count of the full benchmark to the mode (never below `min`). */
  count(full: number, min?: number): number;
  /** Progress line on stderr. */
  log(message: string): void;
}

/** A target a figure's median is checked against. */
export interface Target {
  op: '>=' | '<=';
  value: number;
}

/** One row of the results table. */
export interface Metric {
  scenario: string;
  /** What was measured, e.g. `Sprout jobs/s` or `ratio to bare`. */
  metric: string;
  unit: string;
  /** One value per run (or per round); empty when skipped. */
  samples: number[];
  target?: Target;
  /** Why the row was not measured. */
  skipped?: string;
  note?: string;
}

/** What a scenario returns. */
export interface ScenarioOutput {
  metrics: Metric[];
  /** Free-form facts for the report (counts, settings, sanity checks). */
  notes: string[];
}

/** A benchmark scenario. */
export type Scenario = (config: BenchConfig) => Promise<ScenarioOutput>;
