import { Hono } from 'hono';
import type { ServerContext } from '../server-context.js';

/**
 * The provider name the Bamboo UIs see: Sprout runs one configured agent.
 *
 * @example
 * ({ provider: BAMBOO_PROVIDER, providers: { [BAMBOO_PROVIDER]: { model: 'gpt-4o-mini' } } });
 */
export const BAMBOO_PROVIDER = 'sprout';

/**
 * The small settings endpoints the two Bamboo UIs call at boot, answered with the minimal shapes
 * that let them through (mounted at `/`): setup complete, no access password, one provider whose
 * model is the server's `defaultModel`, the model list (`models`, else `defaultModel`), and empty
 * config, skills and model catalog.
 *
 * - `GET /v1/bamboo/setup/status`, `GET /v1/bamboo/access/status`, `GET /v1/bamboo/config`
 * - `GET /v1/bamboo/settings/provider` (legacy Lotus: its send button needs `providers[provider].model`)
 * - `GET /v1/bamboo/settings/provider-instances` (lotus-next: `defaults.chat.model`)
 * - `POST /v1/bamboo/provider-catalog/fetch-models`, `GET /v1/skills`, `GET /openai/v1/models`
 *
 * @example
 * app.route('/', bambooSettingsRoutes(context));
 */
export function bambooSettingsRoutes(ctx: ServerContext): Hono {
  const { defaultModel, models } = ctx.options;
  const modelIds = [...new Set([defaultModel, ...(models ?? [])])];
  const app = new Hono();
  app.get('/v1/bamboo/setup/status', (c) => c.json({ is_complete: true, has_proxy_config: false, has_proxy_env: false, message: '' }));
  app.get('/v1/bamboo/access/status', (c) => c.json({ password_enabled: false, local_bypass: true, requires_password: false }));
  app.get('/v1/bamboo/config', (c) => c.json({}));
  app.get('/v1/bamboo/settings/provider', (c) =>
    c.json({ provider: BAMBOO_PROVIDER, providers: { [BAMBOO_PROVIDER]: { model: defaultModel } } }),
  );
  app.get('/v1/bamboo/settings/provider-instances', (c) =>
    c.json({ instances: [], defaults: { chat: { provider: BAMBOO_PROVIDER, model: defaultModel } } }),
  );
  app.post('/v1/bamboo/provider-catalog/fetch-models', (c) => c.json({ fetched: [] }));
  app.get('/v1/skills', (c) => c.json({ skills: [] }));
  app.get('/openai/v1/models', (c) =>
    c.json({ object: 'list', data: modelIds.map((id) => ({ id, object: 'model', owned_by: BAMBOO_PROVIDER })) }),
  );
  return app;
}
