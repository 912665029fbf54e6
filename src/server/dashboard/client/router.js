/* global location, window, URLSearchParams */
// Hash routes, so every view is a link that survives a reload: `#/runs?status=error&q=…` (the
// runs view, its filters and page in the URL), `#/runs/<runId>` (a run page), `#/` or
// `#/tree?root=…` (the live tree; `/?root=…` still works), `#/workers` (distributed mode's workers).
import { useEffect, useState } from 'preact/hooks';

/** The route of a location hash: `{ view: 'tree' | 'runs' | 'run' | 'workers', runId?, params }`. */
export function parseHash(hash) {
  const text = (hash ?? '').replace(/^#/, '');
  const [path, query = ''] = text.split('?');
  const params = new URLSearchParams(query);
  const parts = (path ?? '').split('/').filter((part) => part !== '');
  if (parts[0] === 'runs' && parts[1] !== undefined) return { view: 'run', runId: decodeURIComponent(parts[1]), params };
  if (parts[0] === 'runs') return { view: 'runs', params };
  if (parts[0] === 'workers') return { view: 'workers', params };
  return { view: 'tree', params };
}

/** `#/runs?status=error` from a path and parameters (empty values left out). */
export function hashOf(path, params = {}) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params))
    if (value !== undefined && value !== null && value !== '') query.set(key, String(value));
  const text = query.toString();
  return `#${path}${text === '' ? '' : `?${text}`}`;
}

/** The link of a run page. */
export const runHref = (runId) => `#/runs/${encodeURIComponent(runId)}`;

/** The current route, updated on every hash change. */
export function useRoute() {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const update = () => setRoute(parseHash(location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
