// The chaos check of distributed mode (see test/distributed/chaos-run.ts): runs it N times per
// recover mode against the local Redis and PostgreSQL (SPROUT_TEST_REDIS_URL /
// SPROUT_TEST_POSTGRES_URL), each run on a deployment prefix of its own, and prints the problems.
//
//   node --import tsx scripts/chaos.ts [--recover interrupt|requeue|both] [--runs N]
//     [--faults zombie,kill,redis-loss] [--careful] [--keep]
//
// Exits 1 when any run broke a promise.
import { parseArgs } from 'node:util';
import { runChaos, type ChaosFault } from '../test/distributed/chaos-run.js';

const { values } = parseArgs({
  options: {
    recover: { type: 'string', default: 'both' },
    runs: { type: 'string', default: '1' },
    faults: { type: 'string', default: 'zombie,kill,redis-loss' },
    careful: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});
const modes = values.recover === 'both' ? (['interrupt', 'requeue'] as const) : ([values.recover] as ['interrupt' | 'requeue']);
const faults = values.faults.split(',').filter(Boolean) as ChaosFault[];
let failed = 0;
const tally: string[] = [];
for (const recover of modes) {
  let passed = 0;
  for (let i = 1; i <= Number(values.runs); i++) {
    const started = Date.now();
    const result = await runChaos({
      recover,
      faults,
      careless: !values.careful,
      keep: values.keep,
      log: (line) => console.log(`  [${recover} #${i} ${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(
      `${recover} run ${i}: ${result.problems.length === 0 ? 'PASS' : 'FAIL'} in ${seconds} s (${result.prefix}); ${result.notes.join('; ')}`,
    );
    for (const problem of result.problems) console.log(`  - ${problem}`);
    if (result.problems.length > 0 && values.verbose) {
      for (const [name, text] of Object.entries(result.stderr)) console.log(`  --- ${name} stderr ---\n${text}`);
    }
    if (result.problems.length === 0) passed++;
    else failed++;
  }
  tally.push(`${recover}: ${passed}/${values.runs} passed`);
}
console.log(tally.join(', '));
process.exit(failed > 0 ? 1 : 0);
