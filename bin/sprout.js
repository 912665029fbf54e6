#!/usr/bin/env node
// Runs the TypeScript CLI (src/cli/main.ts) through tsx, so `npx sprout demo` works from the
// repository without a build step. tsx's loader is registered in this process (no child process):
// exit codes, signals and the terminal behave exactly as for `tsx src/cli/main.ts`.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
