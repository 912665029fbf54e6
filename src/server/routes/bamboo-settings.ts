import { Hono } from 'hono';
import { z } from 'zod';
import { forwardedRequest } from '../forwarded-request.js';
import { AuthFailureThrottle } from '../middleware/auth-failure-throttle.js';
import { HttpProblem } from '../problem.js';
import { presentsToken, tokenCookie, tokenMatches } from '../security.js';
import { readJson, type ServerContext } from '../server-context.js';

/**
 * The provider name the Bamboo UIs see: Sprout runs one configured agent.
 *
 * @example
 * ({ provider: BAMBOO_PROVIDER, providers: { [BAMBOO_PROVIDER]: { model: 'gpt-4o-mini' } } });
 */
export const BAMBOO_PROVIDER = 'sprout';

/**
 * Paths a Bamboo UI calls before it has a credential, served without one when the server has a
 * token (as Bamboo serves them without its access password): the health probe, the access
 * status, the login exchange.
 *
 * @example
 * app.use(bearerGuard(token, { publicPaths: BAMBOO_PUBLIC_PATHS }));
 */
export const BAMBOO_PUBLIC_PATHS: ReadonlySet<string> = new Set(['/api/v1/health', '/v1/bamboo/access/status', '/v1/bamboo/access/verify']);

const verifySchema = z.looseObject({ password: z.string().min(1).max(4096) });

/**
 * The small settings endpoints the two Bamboo UIs call at boot, answered with the minimal shapes
 * that let them through (mounted at `/`): setup complete, no access password, one provider whose
 * model is the server's `defaultModel`, the model list (`models`, else `defaultModel`), and empty
 * config, skills and model catalog.
 *
 * - `GET /v1/bamboo/setup/status`, `GET /v1/bamboo/config`
 * - Bamboo's access password is the server's `token`: `GET /v1/bamboo/access/status` says
 *   `requires_password` while the request carries no valid token (no password without one);
 *   `POST /v1/bamboo/access/verify {password}` (lotus-next's login screen) with the token answers
 *   `{ success: true }` and sets the `HttpOnly`, `SameSite=Strict` token cookie that the UI's
 *   later requests and its `/v2/stream` socket carry; a wrong one is 401 and counts against the
 *   client like a wrong bearer token (429 once over the limit); `POST /v1/bamboo/access/password`
 *   is 501 (change `--token` instead)
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
  const { token, trustProxy } = ctx.options;
  const throttle = new AuthFailureThrottle({ max: ctx.options.maxAuthFailures, windowMs: ctx.options.authFailureWindowMs, now: ctx.now });
  app.get('/v1/bamboo/access/status', (c) => {
    if (token === undefined) return c.json({ password_enabled: false, local_bypass: true, requires_password: false });
    const signedIn = presentsToken(c.req.header('authorization'), c.req.header('cookie'), token);
    return c.json({ password_enabled: true, local_bypass: false, requires_password: !signedIn });
  });
  app.post('/v1/bamboo/access/verify', async (c) => {
    if (token === undefined)
      throw new HttpProblem(409, 'NO_ACCESS_PASSWORD', 'this server has no token, so there is no password to verify');
    const { client, secure } = forwardedRequest(c, trustProxy);
    const wait = throttle.blockedFor(client);
    if (wait > 0) {
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      throw new HttpProblem(429, 'TOO_MANY_AUTH_FAILURES', `too many wrong passwords from this client; retry in ${seconds} s`, {
        headers: { 'retry-after': String(seconds) },
      });
    }
    const { password } = await readJson(c, verifySchema);
    if (!tokenMatches(token, password)) {
      throttle.fail(client, password);
      throw new HttpProblem(401, 'UNAUTHORIZED', 'invalid password');
    }
    c.header('set-cookie', tokenCookie(token, secure));
    return c.json({ success: true });
  });
  app.post('/v1/bamboo/access/password', () => {
    throw new HttpProblem(501, 'NOT_IMPLEMENTED', "the access password is the server's token: restart with another --token / SPROUT_TOKEN");
  });
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
