// `--prefix NAME` / `SPROUT_PREFIX`: `sprout worker` and `sprout serve` in distributed mode read the
// same flag and variable with the same rules, so a deployment configured through the environment
// never falls back to the default deployment `sprout` on one side. An embedded server ignores the
// variable (it refuses the flag).
import { describe, expect, it } from 'vitest';
import { CliUsageError } from '../../src/cli/cli-error.js';
import { AUDIT_HELP, parseAuditArgs } from '../../src/cli/audit-command.js';
import { parseServeArgs, SERVE_HELP } from '../../src/cli/serve-args.js';
import { parseWorkerArgs, WORKER_HELP } from '../../src/cli/worker-command.js';

const SERVICES = ['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://root@127.0.0.1:5432/postgres'];

const parsers = {
  worker: (argv: string[], env: Record<string, string>) => parseWorkerArgs([...SERVICES, ...argv], env).prefix,
  serve: (argv: string[], env: Record<string, string>) => parseServeArgs([...SERVICES, ...argv], env).distributed?.prefix,
};

describe.each(Object.entries(parsers))('sprout %s --prefix', (name, prefixOf) => {
  it('reads the flag, else SPROUT_PREFIX, else sprout; the flag wins', () => {
    expect(prefixOf([], {})).toBe('sprout');
    expect(prefixOf([], { SPROUT_PREFIX: '' })).toBe('sprout');
    expect(prefixOf([], { SPROUT_PREFIX: 'team_a' })).toBe('team_a');
    expect(prefixOf(['--prefix', 'team_b'], { SPROUT_PREFIX: 'team_a' })).toBe('team_b');
  });

  it('refuses a bad SPROUT_PREFIX as it refuses the flag, in one line', () => {
    for (const bad of ['Team', 'pg_team', 'a-b']) {
      const parse = () => prefixOf([], { SPROUT_PREFIX: bad });
      expect(parse).toThrow(CliUsageError);
      expect(parse).toThrow(new RegExp(`^sprout ${name}: --prefix `));
    }
  });
});

describe('SPROUT_PREFIX elsewhere', () => {
  it('an embedded server ignores it', () => {
    expect(parseServeArgs([], { SPROUT_PREFIX: 'team_a' }).distributed).toBeUndefined();
  });

  it('sprout audit reads it for a PostgreSQL deployment, not for a SQLite file', () => {
    const env = { SPROUT_POSTGRES_URL: 'postgres://root@127.0.0.1:5432/postgres', SPROUT_PREFIX: 'team_a' };
    expect(parseAuditArgs([], env).prefix).toBe('team_a');
    expect(parseAuditArgs(['--prefix', 'team_b'], env).prefix).toBe('team_b');
    expect(parseAuditArgs(['--db', 'x.db'], env).prefix).toBe('sprout');
  });

  it('every command that takes --prefix documents it', () => {
    for (const help of [SERVE_HELP, WORKER_HELP, AUDIT_HELP]) expect(help).toContain('SPROUT_PREFIX');
  });
});
