import { createHash } from 'node:crypto';
import { Hono } from 'hono';
import { dashboardAssets } from '../dashboard/assets.js';
import { HttpProblem } from '../problem.js';
import type { ServerContext } from '../server-context.js';

const IMPORT_MAP = JSON.stringify({
  imports: { preact: '/assets/preact.mjs', 'preact/hooks': '/assets/hooks.mjs', htm: '/assets/htm.mjs' },
});
const IMPORT_MAP_HASH = createHash('sha256').update(IMPORT_MAP).digest('base64');

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sprout dashboard</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
<script type="importmap">${IMPORT_MAP}</script>
<script src="/assets/elk.bundled.js"></script>
<script type="module" src="/assets/app.js"></script>
</head>
<body><main id="app"><p class="loading">Loading Sprout dashboard…</p></main></body>
</html>
`;

/**
 * The live dashboard at `GET /` and its files under `/assets/` — all served from the package
 * (Preact + htm for the page, ELK for the statechart layout), so it works offline. Strict CSP:
 * scripts only from this server plus the hashed import map.
 *
 * @example
 * app.route('/', dashboardRoutes(context));
 */
export function dashboardRoutes(_ctx: ServerContext): Hono {
  const app = new Hono();
  const csp = `default-src 'self'; script-src 'self' 'sha256-${IMPORT_MAP_HASH}'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'`;
  app.get('/', (c) => {
    c.header('content-security-policy', csp);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'no-referrer');
    c.header('cache-control', 'no-store');
    return c.html(PAGE);
  });
  app.get('/assets/:name', (c) => {
    const asset = dashboardAssets().get(c.req.param('name'));
    if (!asset) throw new HttpProblem(404, 'NOT_FOUND', 'no such asset');
    return c.body(asset.body as Uint8Array<ArrayBuffer>, 200, {
      'content-type': asset.contentType,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
    });
  });
  return app;
}
