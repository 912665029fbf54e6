import { describe, expect, it } from 'vitest';
import { EXIT, EXIT_CODES } from '../../src/cli/cli-error.js';
import { ALL_COMMANDS } from '../../src/cli/parse-args.js';
import { runCli } from './cli-process.js';

describe('sprout help <command> covers every command', () => {
  it.each(ALL_COMMANDS.map((command) => [command]))('sprout help %s prints that command’s help and exits 0', async (command) => {
    const viaHelp = await runCli(['help', command]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stderr).toBe('');
    expect(viaHelp.stdout).toMatch(new RegExp(`^sprout ${command}( FILE)?: `));
    const viaFlag = await runCli([command, '--help']);
    expect(viaFlag.stdout).toBe(viaHelp.stdout);
  });

  it('sprout --help lists every command and the one exit-code table', async () => {
    const overview = await runCli(['--help']);
    expect(overview.code).toBe(0);
    for (const command of ALL_COMMANDS) expect(overview.stdout).toMatch(new RegExp(`^  sprout ${command}\\b`, 'm'));
    expect(overview.stdout).toContain(`Exit codes (every command): ${EXIT_CODES.map(({ code, short }) => `${code} ${short}`).join(' · ')}`);
    expect(EXIT_CODES.map(({ code }) => code)).toEqual(Object.values(EXIT));
    expect((await runCli(['help', 'help'])).stdout).toBe(overview.stdout);
  });
});

// Issue 22 item 5: one-line errors everywhere. serve, worker and audit printed node's own wording
// ("Unknown option '--x'"); every command now says the same thing the same way, with exit code 2.
describe.concurrent('a bad flag on any command', () => {
  it.each(ALL_COMMANDS.map((command) => [command]))('sprout %s --frobnicate: one line on stderr, exit 2', async (command) => {
    const result = await runCli([command, '--frobnicate']);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`sprout ${command}: unknown option --frobnicate (see sprout ${command} --help)\n`);
  });

  it('an unknown command names every command', async () => {
    const result = await runCli(['launch']);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toBe(`sprout: unknown command "launch" (commands: ${ALL_COMMANDS.join(', ')}; see sprout --help)\n`);
  });
});
