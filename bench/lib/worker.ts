/**
 * Runs one scenario in its own process (forked by `bench/run.ts`, so each scenario starts on a
 * clean heap) and sends its output back over IPC.
 * argv: <scenario> <plan JSON>
 */
import { benchConfig, type RunPlan } from './config.js';
import { runScenario } from './run-scenario.js';

const [name, planJson] = process.argv.slice(2);
const plan = JSON.parse(planJson ?? '{}') as RunPlan;
const result = await runScenario(name ?? '', benchConfig(plan));
process.send?.(result, () => process.exit(0));
