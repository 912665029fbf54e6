// A `sprout worker` child process on the probe agent (test/distributed/fixtures/probe-agent-module.ts)
// for one test deployment, started and waited for until its ready line.
import { startCli, type CliProcess } from '../cli/cli-process.js';
import { POSTGRES_URL, REDIS_URL } from './support.js';

/**
 * Starts `sprout worker --name NAME` on the deployment `prefix` with the probe agent and `flags`,
 * records it in `processes` (the test's cleanup kills what is left), and resolves once it printed
 * its ready line.
 *
 * @example
 * const worker = await startProbeWorker(prefix, 'w1', ['--lock-ms', '1000'], opened.processes);
 */
export async function startProbeWorker(
  prefix: string,
  name: string,
  flags: readonly string[],
  processes: CliProcess[],
): Promise<CliProcess> {
  process.env.SPROUT_PROBE_REDIS_URL = REDIS_URL;
  process.env.SPROUT_PROBE_PREFIX = prefix;
  const worker = startCli([
    'worker',
    ...['--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--prefix', prefix, '--name', name],
    ...flags,
    ...['--agent-module', 'test/distributed/fixtures/probe-agent-module.ts'],
  ]);
  processes.push(worker);
  await worker.waitForLine(/^worker .* ready/, 'stdout');
  return worker;
}
