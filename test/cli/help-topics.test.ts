import { describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

describe('sprout help <command> covers every command', () => {
  it.each([
    ['serve', /^sprout serve: /],
    ['worker', /^sprout worker: /],
    ['demo', /sprout demo/],
  ])('sprout help %s prints that command’s help and exits 0', async (command, first) => {
    const viaHelp = await runCli(['help', command]);
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stderr).toBe('');
    expect(viaHelp.stdout).toMatch(first);
    const viaFlag = await runCli([command, '--help']);
    expect(viaFlag.stdout).toBe(viaHelp.stdout);
  });
});
