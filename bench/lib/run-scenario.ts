/** Runs one scenario by name and turns a crash into a result (never throws). */
import { scenarios } from '../scenarios/index.js';
import type { BenchConfig, ScenarioOutput } from './types.js';

/** A scenario's output plus how it went. */
export interface ScenarioResult extends ScenarioOutput {
  scenario: string;
  durationMs: number;
  /** Set when the scenario crashed. */
  error?: string;
}

export async function runScenario(name: string, config: BenchConfig): Promise<ScenarioResult> {
  const start = performance.now();
  const load = scenarios[name];
  if (!load) return { scenario: name, metrics: [], notes: [], durationMs: 0, error: `unknown scenario ${name}` };
  try {
    const output = await (await load())(config);
    return { scenario: name, ...output, durationMs: performance.now() - start };
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return { scenario: name, metrics: [], notes: [], durationMs: performance.now() - start, error: text };
  }
}
