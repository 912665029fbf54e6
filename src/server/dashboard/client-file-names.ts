/** The dashboard's browser files (in `client/`, bundled into `client-bundle.generated.ts`). */
export const CLIENT_FILE_NAMES = [
  'app.js',
  'sse-client.js',
  'run-rows.js',
  'stored-rows.js',
  'statechart.js',
  'session-tree.js',
  'style.css',
] as const;
