import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (path: string): string => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      // The package name (as the docs import it) and the DESIGN's short name, both to src/.
      { find: /^@sprout-agents\/sprout\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^@sprout-agents\/sprout\/server$/, replacement: here('./src/server/index.ts') },
      { find: /^@sprout-agents\/sprout\/postgres$/, replacement: here('./src/adapters/postgres/index.ts') },
      { find: /^@sprout-agents\/sprout\/distributed$/, replacement: here('./src/distributed/index.ts') },
      { find: /^@sprout-agents\/sprout$/, replacement: here('./src/index.ts') },
      { find: /^sprout\/testing$/, replacement: here('./src/testing/index.ts') },
      { find: /^sprout\/server$/, replacement: here('./src/server/index.ts') },
      { find: /^sprout$/, replacement: here('./src/index.ts') },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    pool: 'forks',
    // A safety net, not a budget: tests wait on conditions, and on a slow, loaded 2-core machine a
    // subprocess test (the CLI through tsx, a consumer install) can take minutes.
    testTimeout: 300_000,
    hookTimeout: 300_000,
    restoreMocks: true,
    // CI also writes a JSON report, which .ci/run turns into a plain "N passed, N failed" line.
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.ci/vitest-report.json' },
  },
});
