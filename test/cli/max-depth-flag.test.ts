// `--max-depth N` / `SPROUT_MAX_DEPTH`: `sprout serve` (embedded scheduler or distributed front
// door) and `sprout worker` read the same flag and variable with the same rules, so a deployment's
// front doors and workers agree on how deep a tree grows and how far its events are forwarded.
import { describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import { withCommandReference } from '../../src/cli/cli-docs.js';
import { DEFAULT_MAX_DEPTH, MAX_DEPTH_ENV } from '../../src/cli/command-flags.js';
import { parseServeArgs, SERVE_HELP } from '../../src/cli/serve-args.js';
import { parseWorkerArgs, WORKER_HELP } from '../../src/cli/worker-command.js';

const SERVICES = ['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://root@127.0.0.1:5432/postgres'];

/** `maxDepth` as each command parses `argv` with `env`. */
const parsers = {
  worker: (argv: string[], env: Record<string, string> = {}) => parseWorkerArgs([...SERVICES, ...argv], env).maxDepth,
  'serve (distributed)': (argv: string[], env: Record<string, string> = {}) => parseServeArgs([...SERVICES, ...argv], env).maxDepth,
  'serve (embedded)': (argv: string[], env: Record<string, string> = {}) => parseServeArgs(argv, env).maxDepth,
};

describe.each(Object.entries(parsers))('sprout %s --max-depth', (command, maxDepthOf) => {
  const name = command.split(' ')[0];

  it('defaults to the schedulers’ default, 4', () => {
    expect(DEFAULT_MAX_DEPTH).toBe(4);
    expect(maxDepthOf([])).toBe(4);
    expect(maxDepthOf([], { [MAX_DEPTH_ENV]: '' })).toBe(4);
  });

  it('reads the flag, else SPROUT_MAX_DEPTH; the flag wins', () => {
    expect(MAX_DEPTH_ENV).toBe('SPROUT_MAX_DEPTH');
    expect(maxDepthOf(['--max-depth', '6'])).toBe(6);
    expect(maxDepthOf([], { SPROUT_MAX_DEPTH: '7' })).toBe(7);
    expect(maxDepthOf(['--max-depth', '0'], { SPROUT_MAX_DEPTH: '7' })).toBe(0);
    expect(maxDepthOf(['--max-depth', '1000'])).toBe(1000);
  });

  it('refuses what is not an integer from 0 to 1000, in one line', () => {
    for (const bad of ['-1', '1.5', 'six', '1001', '']) {
      const parse = () => maxDepthOf(['--max-depth', bad]);
      expect(parse).toThrow(CliUsageError);
      expect(parse).toThrow(new RegExp(`^sprout ${name}: --max-depth `));
    }
    expect(() => maxDepthOf([], { SPROUT_MAX_DEPTH: 'deep' })).toThrow(new RegExp(`^sprout ${name}: --max-depth must be an integer`));
    expect(() => maxDepthOf(['--max-depth'])).toThrow(new RegExp(`^sprout ${name}: --max-depth needs a value`));
  });
});

describe('--max-depth in the help and the generated CLI guide', () => {
  it('both commands document the flag and the variable', () => {
    for (const help of [SERVE_HELP, WORKER_HELP]) {
      expect(help).toMatch(/^ {2}--max-depth N {2,}/m);
      expect(help).toContain(MAX_DEPTH_ENV);
    }
    const guide = withCommandReference('');
    expect(guide.match(/--max-depth N/g)).toHaveLength(2);
  });
});
