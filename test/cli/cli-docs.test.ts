import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { commandHelps, withCommandReference } from '../../src/cli/cli-docs.js';

const guide = new URL('../../docs/guides/cli.md', import.meta.url);

describe('docs/guides/cli.md', () => {
  it('has every command’s --help, as the parsers print it (regenerate: npx tsx src/cli/generate-cli-docs.ts)', () => {
    const text = readFileSync(guide, 'utf8');
    expect(withCommandReference(text)).toBe(text);
    for (const { command } of commandHelps()) expect(text).toContain(`sprout ${command} --help`);
  });
});
