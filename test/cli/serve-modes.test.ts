// `sprout serve` and `sprout worker` read the same flags and variables (issue 19, item 5): serve
// took no notice of SPROUT_REDIS_URL / SPROUT_POSTGRES_URL (it started on SQLite) and silently
// ignored --db and --concurrency in distributed mode.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import { DEFAULT_QUEUE_CAPACITY, parseServeArgs } from '../../src/cli/serve-args.js';
import { POSTGRES_URL, REDIS_URL, createTestDeployment, servicesUnavailable, type TestDeployment } from '../distributed/support.js';
import { REPO_ROOT } from './cli-process.js';

const SERVICES = { SPROUT_REDIS_URL: 'redis://127.0.0.1:6379', SPROUT_POSTGRES_URL: 'postgres://root@127.0.0.1:5432/postgres' };

/** Runs `sprout serve …` with `env` added; resolves the first stdout line (or the exit), and exposes the process. */
function serve(args: readonly string[], env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SPROUT_REDIS_URL: '', SPROUT_POSTGRES_URL: '', FORCE_COLOR: '0', ...env },
  });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const firstLine = new Promise<string | undefined>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (stdout.includes('\n')) resolve(stdout.slice(0, stdout.indexOf('\n')));
    });
    void exited.then(() => resolve(undefined));
  });
  return { child, firstLine, exited, stderr: () => stderr };
}

describe('sprout serve flags and variables', () => {
  it('reads SPROUT_REDIS_URL and SPROUT_POSTGRES_URL as sprout worker does', () => {
    expect(parseServeArgs([], SERVICES).distributed).toEqual({
      redis: SERVICES.SPROUT_REDIS_URL,
      postgres: SERVICES.SPROUT_POSTGRES_URL,
      prefix: 'sprout',
    });
    // A flag wins over its variable.
    expect(parseServeArgs(['--redis', 'redis://10.0.0.9:6380'], SERVICES).distributed?.redis).toBe('redis://10.0.0.9:6380');
    expect(parseServeArgs([], {}).distributed).toBeUndefined();
    expect(() => parseServeArgs([], { SPROUT_REDIS_URL: SERVICES.SPROUT_REDIS_URL })).toThrow(
      /needs both --redis URL and --postgres URL: --redis \(or SPROUT_REDIS_URL\) is set, --postgres \(or SPROUT_POSTGRES_URL\) is not/,
    );
  });

  it('refuses a flag that does not apply in the chosen mode, in one line', () => {
    for (const flags of [
      ['--db', 'x.db'],
      ['--concurrency', '2'],
      ['--provider', 'openai-compatible'],
    ]) {
      const parse = () => parseServeArgs(flags, SERVICES);
      expect(parse).toThrow(CliUsageError);
      expect(parse).toThrow(new RegExp(`^sprout serve: ${flags[0]} does not apply in distributed mode`));
    }
    expect(() => parseServeArgs(['--redis', REDIS_URL, '--postgres', POSTGRES_URL, '--db', 'x.db'], {})).toThrow(
      /--db does not apply in distributed mode/,
    );
    expect(() => parseServeArgs(['--prefix', 'staging'], {})).toThrow(/--prefix does not apply in embedded mode/);
  });

  it('takes --queue-capacity in both modes (default the embedded scheduler’s 128)', () => {
    expect(parseServeArgs([], {}).queueCapacity).toBe(DEFAULT_QUEUE_CAPACITY);
    expect(DEFAULT_QUEUE_CAPACITY).toBe(128);
    expect(parseServeArgs(['--queue-capacity', '7'], {}).queueCapacity).toBe(7);
    expect(parseServeArgs(['--queue-capacity', '7'], SERVICES).queueCapacity).toBe(7);
    expect(() => parseServeArgs(['--queue-capacity', '0'], {})).toThrow(/--queue-capacity/);
  });

  it('a refused flag is one line on stderr and exit code 2', async () => {
    const run = serve(['--port', '0', '--db', ':memory:'], SERVICES);
    expect(await run.firstLine).toBeUndefined();
    expect(await run.exited).toBe(2);
    expect(run.stderr().trim().split('\n')).toHaveLength(1);
    expect(run.stderr()).toMatch(/^sprout serve: --db does not apply in distributed mode/);
  });
});

const unavailable = await servicesUnavailable();

describe.skipIf(unavailable !== undefined)('sprout serve with SPROUT_REDIS_URL and SPROUT_POSTGRES_URL', () => {
  let deployment: TestDeployment | undefined;
  afterEach(async () => {
    await deployment?.cleanup();
    deployment = undefined;
  });

  it('starts as the distributed front door, not on SQLite', async () => {
    deployment = createTestDeployment();
    const run = serve(['--port', '0', '--prefix', deployment.prefix], { SPROUT_REDIS_URL: REDIS_URL, SPROUT_POSTGRES_URL: POSTGRES_URL });
    try {
      expect(await run.firstLine).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+$/);
      const url = (await run.firstLine)!.slice('listening on '.length);
      const health = (await (await fetch(`${url}/v1/health`)).json()) as { checks?: unknown };
      expect(health.checks).toEqual({ redis: { status: 'up' }, postgres: { status: 'up' } });
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.stderr()).toContain(`distributed front door (prefix ${deployment.prefix})`);
    } finally {
      if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    }
  });
});
