/**
 * Sprout's benchmarks (issue #5): runs each scenario, prints one table (median of the runs with
 * min and max, the target, pass/miss) and writes bench/results.json.
 *
 *   node --expose-gc --import tsx bench/run.ts            # full: the counts, 5 runs
 *   node --expose-gc --import tsx bench/run.ts --quick    # counts × 0.1, 5 runs
 *   node --expose-gc --import tsx bench/run.ts --smoke    # CI: tiny counts, 1 run, no targets asserted
 *
 * Options: --only=lifecycle,wide  --runs=N  --scale=x  --in-process  --strict  --out=path
 * (env: BENCH_MODE, BENCH_RUNS, BENCH_SCALE, BENCH_ONLY, BENCH_LONG_JOBS).
 *
 * Each scenario runs in a worker process of its own (same Node flags as this one, plus
 * `--expose-gc`), so memory figures start from a clean heap. Profile one with
 * `node --cpu-prof --cpu-prof-dir=bench/profiles --expose-gc --import tsx bench/run.ts --only=lifecycle`
 * and read the profile with `bench/tools/cpuprofile-summary.ts`.
 */
import { fork } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { benchConfig, parsePlan, type RunPlan } from './lib/config.js';
import { machineInfo, renderTable, resultsJson, sourceInfo } from './lib/report.js';
import { runScenario, type ScenarioResult } from './lib/run-scenario.js';
import { hasGc, statusOf } from './lib/stats.js';
import { scenarioNames } from './scenarios/index.js';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

function inWorker(name: string, plan: RunPlan): Promise<ScenarioResult> {
  const execArgv = process.execArgv.includes('--expose-gc') ? process.execArgv : [...process.execArgv, '--expose-gc'];
  return new Promise((resolve) => {
    let result: ScenarioResult | undefined;
    const started = performance.now();
    const child = fork(here('./lib/worker.ts'), [name, JSON.stringify(plan)], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    child.on('message', (message) => {
      result = message as ScenarioResult;
    });
    child.on('exit', (code, signal) => {
      resolve(
        result ?? {
          scenario: name,
          metrics: [],
          notes: [],
          durationMs: performance.now() - started,
          error: `worker exited (code ${code}, signal ${signal}) without a result`,
        },
      );
    });
  });
}

const plan = parsePlan(process.argv.slice(2), process.env);
const names = plan.only ?? scenarioNames;
const unknown = names.filter((name) => !scenarioNames.includes(name));
if (unknown.length > 0) {
  console.error(`bench: unknown scenario(s) ${unknown.join(', ')}; known: ${scenarioNames.join(', ')}`);
  process.exit(2);
}
const machine = machineInfo();
const source = sourceInfo();
const startedAt = new Date().toISOString();
console.log(
  `sprout bench — mode ${plan.mode}, ${plan.runs} run(s), scale ${plan.scale}; ${machine.nproc} CPU(s) ${machine.cpu}, Node ${machine.node}, load ${machine.loadAvg1m}` +
    (source ? `; commit ${source.commit}${source.dirty ? ' + uncommitted changes in src/ or machines/' : ''}` : ''),
);
if (plan.inProcess && !hasGc()) console.log('warning: no --expose-gc: heap figures include garbage');

const results: ScenarioResult[] = [];
for (const name of names) {
  process.stderr.write(`▶ ${name}\n`);
  const result = plan.inProcess ? await runScenario(name, benchConfig(plan)) : await inWorker(name, plan);
  results.push(result);
  process.stderr.write(`  ${result.error === undefined ? 'done' : 'CRASHED'} in ${(result.durationMs / 1000).toFixed(1)} s\n`);
  if (result.error !== undefined) process.stderr.write(`${result.error}\n`);
}

console.log(`\n${renderTable(results)}\n`);
for (const result of results) for (const note of result.notes) console.log(`- ${result.scenario}: ${note}`);

const out = plan.out ?? (plan.mode === 'smoke' ? undefined : here('./results.json'));
if (out) {
  const command = `node ${process.execArgv.join(' ')} ${process.argv
    .slice(1)
    .map((arg) => arg.replace(/^.*\/bench\//, 'bench/'))
    .join(' ')}`;
  writeFileSync(
    out,
    `${JSON.stringify(resultsJson(results, { mode: plan.mode, runs: plan.runs, scale: plan.scale, command, startedAt, machine, source }), null, 2)}\n`,
  );
  console.log(`\nwrote ${out}`);
}

const crashed = results.some((result) => result.error !== undefined);
const missed = results.some((result) => result.metrics.some((metric) => statusOf(metric) === 'miss'));
// Smoke asserts no target, but a crash means the benchmark rotted: fail CI on it.
process.exitCode = crashed ? 1 : plan.strict && missed ? 1 : 0;
