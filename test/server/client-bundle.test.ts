import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderClientBundle } from '../../src/server/dashboard/generate-client-bundle.js';

describe('dashboard client bundle', () => {
  it('is up to date with src/server/dashboard/client/ (regenerate: npx tsx src/server/dashboard/generate-client-bundle.ts)', () => {
    const generated = readFileSync(new URL('../../src/server/dashboard/client-bundle.generated.ts', import.meta.url), 'utf8');
    expect(generated === renderClientBundle()).toBe(true);
  });
});
