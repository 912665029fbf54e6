/** The dashboard's browser files (in `client/`, bundled into `client-bundle.generated.ts`). */
export const CLIENT_FILE_NAMES = [
  'app.js',
  'api.js',
  'router.js',
  'causes.js',
  'run-table.js',
  'runs-view.js',
  'run-page.js',
  'workers-view.js',
  'graph-shape.js',
  'sse-client.js',
  'run-rows.js',
  'stored-rows.js',
  'statechart.js',
  'session-tree.js',
  'style.css',
] as const;
