import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { StoreUnavailableError } from '../../errors.js';
import { CLIENT_BUNDLE } from './client-bundle.generated.js';
import { CLIENT_FILE_NAMES } from './client-file-names.js';

/** One file the dashboard page loads, served from memory. */
export interface DashboardAsset {
  body: Uint8Array;
  contentType: string;
}

const JS = 'text/javascript; charset=utf-8';
const require = createRequire(import.meta.url);
/** The directory of an installed package (walks up from its entry point: not every package exports `./package.json`). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name));
  while (
    !existsSync(join(dir, 'package.json')) ||
    (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown }).name !== name
  ) {
    const parent = dirname(dir);
    if (parent === dir) throw new StoreUnavailableError(`package ${name} not found for the dashboard`);
    dir = parent;
  }
  return dir;
}

let cache: Map<string, DashboardAsset> | undefined;

/**
 * Every file the dashboard needs, read once from `node_modules` and the package (no CDN: the page
 * works offline): Preact and its hooks, htm, ELK's bundled browser build, and the page's modules
 * (from `client-bundle.generated.ts`, so they ship in `dist/`).
 *
 * @example
 * const asset = dashboardAssets().get('preact.mjs');
 */
export function dashboardAssets(): Map<string, DashboardAsset> {
  if (cache) return cache;
  const files = new Map<string, DashboardAsset>();
  const add = (name: string, path: string, contentType = JS): void => {
    files.set(name, { body: readFileSync(path), contentType });
  };
  add('preact.mjs', join(packageDir('preact'), 'dist/preact.mjs'));
  add('hooks.mjs', join(packageDir('preact'), 'hooks/dist/hooks.mjs'));
  add('htm.mjs', join(packageDir('htm'), 'dist/htm.module.js'));
  add('elk.bundled.js', join(packageDir('elkjs'), 'lib/elk.bundled.js'));
  const encoder = new TextEncoder();
  for (const name of CLIENT_FILE_NAMES) {
    files.set(name, {
      body: encoder.encode(CLIENT_BUNDLE[name] ?? ''),
      contentType: name.endsWith('.css') ? 'text/css; charset=utf-8' : JS,
    });
  }
  cache = files;
  return files;
}
