/** Parses the command line of `bench/run.ts` into a run plan and per-scenario config. */
import type { BenchConfig, Mode } from './types.js';

/** What the command line asked for. */
export interface RunPlan {
  mode: Mode;
  runs: number;
  scale: number;
  only: string[] | undefined;
  inProcess: boolean;
  strict: boolean;
  out: string | undefined;
}

const flag = (argv: readonly string[], name: string): string | undefined => {
  const hit = argv.find((arg) => arg === `--${name}` || arg.startsWith(`--${name}=`));
  if (hit === undefined) return undefined;
  return hit.includes('=') ? hit.slice(hit.indexOf('=') + 1) : '';
};

/**
 * `--smoke` (or `BENCH_MODE=smoke`): tiny counts, one run, for CI. `--quick` (or
 * `BENCH_MODE=quick`): counts scaled by 0.1 (`--scale=x` / `BENCH_SCALE` overrides), 5 runs.
 * `--runs=N` / `BENCH_RUNS`, `--only=a,b`, `--in-process` (no worker per scenario), `--strict`
 * (exit 1 when a target is missed), `--out=path` (default bench/results.json; smoke writes none).
 */
export function parsePlan(argv: readonly string[], env: NodeJS.ProcessEnv): RunPlan {
  const envMode = env.BENCH_MODE as Mode | undefined;
  const mode: Mode = flag(argv, 'smoke') !== undefined ? 'smoke' : flag(argv, 'quick') !== undefined ? 'quick' : (envMode ?? 'full');
  if (!['full', 'quick', 'smoke'].includes(mode)) throw new Error(`bench: unknown mode ${mode}`);
  const scaleText = flag(argv, 'scale') ?? env.BENCH_SCALE;
  const scale = scaleText !== undefined && scaleText !== '' ? Number(scaleText) : mode === 'quick' ? 0.1 : mode === 'smoke' ? 0.01 : 1;
  if (!(scale > 0)) throw new Error(`bench: --scale must be > 0, got ${scaleText}`);
  const runsText = flag(argv, 'runs') ?? env.BENCH_RUNS;
  const runs = runsText !== undefined && runsText !== '' ? Number(runsText) : mode === 'smoke' ? 1 : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`bench: --runs must be a positive integer, got ${runsText}`);
  const onlyText = flag(argv, 'only') ?? env.BENCH_ONLY;
  return {
    mode,
    runs,
    scale,
    only: onlyText
      ? onlyText
          .split(',')
          .map((name) => name.trim())
          .filter(Boolean)
      : undefined,
    inProcess: flag(argv, 'in-process') !== undefined,
    strict: flag(argv, 'strict') !== undefined,
    out: flag(argv, 'out') || undefined,
  };
}

/** The config a scenario gets. */
export function benchConfig(plan: Pick<RunPlan, 'mode' | 'runs' | 'scale'>): BenchConfig {
  return {
    mode: plan.mode,
    runs: plan.runs,
    scale: plan.scale,
    count: (full, min = 1) => Math.max(min, Math.round(full * plan.scale)),
    log: (message) => process.stderr.write(`  · ${message}\n`),
  };
}
