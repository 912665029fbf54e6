// `sprout worker`'s flags, its help, and one-line errors for bad input (no services needed).
import { describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import type { CliIo } from '../../src/cli/cli-io.js';
import { parseWorkerArgs, runWorkerCommand, WORKER_HELP } from '../../src/cli/worker-command.js';
import { helpText } from '../../src/cli/help-text.js';

const REQUIRED = ['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://root@127.0.0.1:5432/postgres'];

function fakeIo(env: Record<string, string> = {}): CliIo & { out: string; err: string } {
  const io = {
    out: '',
    err: '',
    stdout: { write: (text: string) => ((io.out += text), true) },
    stderr: { write: (text: string) => ((io.err += text), true) },
    onInterrupt: () => () => {},
    env,
  };
  return io;
}

describe('sprout worker flags', () => {
  it('has defaults for everything but the two services', () => {
    expect(parseWorkerArgs(REQUIRED, {})).toEqual({
      redis: 'redis://127.0.0.1:6379',
      postgres: 'postgres://root@127.0.0.1:5432/postgres',
      prefix: 'sprout',
      concurrency: 4,
      globalConcurrency: undefined,
      perParent: 8,
      recover: 'interrupt',
      lockMs: 30_000,
      reconcileMs: 60_000,
      heartbeatMs: 5000,
      maxRunMs: undefined,
      maxDepth: 4,
      provider: undefined,
      agentModule: undefined,
      name: undefined,
      verbose: false,
      help: false,
    });
  });

  it('reads every flag, and the services from the environment', () => {
    expect(
      parseWorkerArgs(
        [
          '--prefix',
          'team_a',
          '--concurrency',
          '8',
          '--global-concurrency',
          '32',
          '--per-parent',
          '3',
          '--recover',
          'requeue',
          '--lock-ms',
          '5000',
          '--heartbeat-ms',
          '1000',
          '--max-run-ms',
          '60000',
          '--provider',
          'openai-compatible',
          '--base-url',
          'http://127.0.0.1:11434/v1',
          '--model',
          'llama3',
          '--name',
          'w1',
          '--verbose',
        ],
        { SPROUT_REDIS_URL: 'rediss://cache:6380', SPROUT_POSTGRES_URL: 'postgresql://db/app' },
      ),
    ).toMatchObject({
      redis: 'rediss://cache:6380',
      postgres: 'postgresql://db/app',
      prefix: 'team_a',
      concurrency: 8,
      globalConcurrency: 32,
      perParent: 3,
      recover: 'requeue',
      lockMs: 5000,
      heartbeatMs: 1000,
      maxRunMs: 60_000,
      provider: { baseURL: 'http://127.0.0.1:11434/v1', model: 'llama3' },
      name: 'w1',
      verbose: true,
    });
  });

  it.each([
    [[], /^sprout worker: --redis URL is required/],
    [['--redis', 'redis://x'], /^sprout worker: --postgres URL is required/],
    [[...REQUIRED, '--redis', 'http://x'], /^sprout worker: --redis must be a redis:\/\/ or rediss:\/\/ URL$/],
    [[...REQUIRED, '--prefix', 'Bad-Name'], /^sprout worker: --prefix must be lowercase/],
    [[...REQUIRED, '--prefix', 'pg_deploy'], /^sprout worker: --prefix must not start with pg_/],
    [[...REQUIRED, '--concurrency', '0'], /^sprout worker: --concurrency /],
    [[...REQUIRED, '--recover', 'retry'], /^sprout worker: --recover /],
    [[...REQUIRED, '--lock-ms', '10'], /^sprout worker: --lock-ms /],
    [[...REQUIRED, '--provider', 'openai-compatible'], /needs --base-url URL and --model NAME/],
    [[...REQUIRED, '--frobnicate'], /^sprout worker: unknown option --frobnicate \(see sprout worker --help\)$/],
  ])('refuses %j with one line', (argv, message) => {
    expect(() => parseWorkerArgs(argv, {})).toThrow(CliUsageError);
    expect(() => parseWorkerArgs(argv, {})).toThrow(message);
  });

  it('prints its help, and the overview names it', async () => {
    const io = fakeIo();
    expect(await runWorkerCommand(['--help'], io)).toBe(0);
    expect(io.out).toBe(`${WORKER_HELP}\n`);
    expect(WORKER_HELP).toContain('--per-parent N');
    expect(helpText()).toContain('sprout worker --redis URL --postgres URL');
  });

  it('answers bad flags and an unloadable agent module with one line and exit code 2', async () => {
    const io = fakeIo();
    expect(await runWorkerCommand(['--concurrency', 'x'], io)).toBe(2);
    expect(io.err).toMatch(/^sprout worker: --redis URL is required[^\n]*\n$/);
    const again = fakeIo();
    expect(await runWorkerCommand([...REQUIRED, '--agent-module', 'does/not/exist.js'], again)).toBe(2);
    expect(again.err).toMatch(/^sprout worker: --agent-module does\/not\/exist\.js could not be loaded: /);
    expect(again.err.split('\n')).toHaveLength(2);
  });
});
