/**
 * Regenerates the command reference in docs/guides/cli.md from the commands' help texts:
 *
 *   npx tsx src/cli/generate-cli-docs.ts
 *
 * `test/cli/cli-docs.test.ts` fails when the guide is out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { withCommandReference } from './cli-docs.js';

const guide = fileURLToPath(new URL('../../docs/guides/cli.md', import.meta.url));
writeFileSync(guide, withCommandReference(readFileSync(guide, 'utf8')));
process.stdout.write(`wrote ${guide}\n`);
