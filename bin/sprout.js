#!/usr/bin/env node
// The installed `sprout` command: runs the compiled CLI from dist/ with production dependencies
// only (no TypeScript loader at run time). From a clone, `npm ci` builds dist/ (the `prepare`
// script); `npm start` runs the CLI from src/ through tsx instead.
import process from 'node:process';

try {
  await import('../dist/src/cli/main.js');
} catch (error) {
  const missing = error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('/dist/src/cli/main.js');
  if (!missing) throw error;
  process.stderr.write('sprout: the compiled CLI (dist/) is missing; run `npm run build` in the package first\n');
  process.exit(1);
}
