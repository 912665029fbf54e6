import type { MiddlewareHandler } from 'hono';
import { HttpProblem, problemResponse } from '../problem.js';

/**
 * Routes whose JSON body may name a model: `POST /v1/sessions` (a root), `POST
 * /v1/sessions/{id}/children` (a child brief), `POST /v1/sessions/{id}/messages` (a run), and on
 * the Bamboo API `POST /api/v1/sessions`, `POST /api/v1/chat`, `POST /api/v1/execute/{id}` (and
 * `/api/v1/sessions/{id}/execute`), `PATCH /api/v1/sessions/{id}`.
 */
export const MODEL_ROUTES: readonly RegExp[] = [
  /^\/v1\/sessions\/?$/,
  /^\/v1\/sessions\/[^/]+\/(children|messages)\/?$/,
  /^\/api\/v1\/(sessions|chat)\/?$/,
  /^\/api\/v1\/(execute\/[^/]+|sessions\/[^/]+\/execute|sessions\/[^/]+)\/?$/,
];

/**
 * The cost guard: refuses a request whose body names a model outside `models` (plus
 * `defaultModel`, always allowed) with 422 `MODEL_NOT_ALLOWED`, before anything runs, so a caller
 * cannot send the operator's key to a model the operator did not pick. A body that is not JSON,
 * or names no model, is left to the route (which answers 415/400/422 as usual).
 *
 * @example
 * app.use(modelGuard({ models: ['gpt-4o-mini'], defaultModel: 'gpt-4o-mini' }));
 */
export function modelGuard({ models, defaultModel }: { models: readonly string[]; defaultModel: string }): MiddlewareHandler {
  const allowed = new Set([...models, defaultModel]);
  return async (c, next) => {
    if ((c.req.method !== 'POST' && c.req.method !== 'PATCH') || !MODEL_ROUTES.some((route) => route.test(c.req.path))) return next();
    if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(c.req.header('content-type') ?? '')) return next();
    let model: unknown;
    try {
      // Hono caches the body text: the route reads the same text again.
      model = (JSON.parse(await c.req.text()) as { model?: unknown } | null)?.model;
    } catch {
      return next();
    }
    // Bamboo UIs send `""` for "the default model".
    if (typeof model === 'string' && model !== '' && !allowed.has(model)) {
      return problemResponse(
        new HttpProblem(422, 'MODEL_NOT_ALLOWED', `model ${JSON.stringify(model)} is not allowed on this server`, {
          extensions: { model, allowed_models: [...allowed] },
        }),
      );
    }
    await next();
  };
}
