import type { Context, MiddlewareHandler } from 'hono';
import { csrf } from 'hono/csrf';
import { HTTPException } from 'hono/http-exception';
import { forwardedRequest, originOf } from '../forwarded-request.js';
import { HttpProblem, problemResponse } from '../problem.js';

/** Options of {@link csrfGuard}. */
export interface CsrfGuardOptions {
  /** The `--cors` origin, also allowed to send state-changing requests. */
  cors?: string | undefined;
  /** This server's own origin comes from `X-Forwarded-Host` / `-Proto` (see `trustProxy`). */
  trustProxy: boolean;
}

/**
 * Cross-site request forgery defence for state-changing requests (anything but GET, HEAD and
 * OPTIONS), on Hono's `csrf` middleware. A request from a browser page (it carries `Origin` or
 * `Sec-Fetch-Site`) must come from this server's own origin, the `cors` origin, or say
 * `Sec-Fetch-Site: same-origin` — unless it is `application/json`, which a page on another site
 * cannot send without a CORS preflight this server refuses. So a body-less cross-site `POST
 * /v1/sessions/{id}/cancel` (a form, `fetch` with `mode: 'no-cors'`) is refused with 403
 * `CSRF_REJECTED`, even without a token. Requests without either header (curl, SDKs, servers)
 * are not from a page and pass.
 *
 * @example
 * app.use(csrfGuard({ cors: 'http://localhost:5173', trustProxy: false }));
 */
export function csrfGuard({ cors, trustProxy }: CsrfGuardOptions): MiddlewareHandler {
  const allowed = (origin: string, c: Context): boolean => {
    const serialized = originOf(origin);
    if (serialized === 'null') return false;
    return serialized === forwardedRequest(c, trustProxy).origin || (cors !== undefined && serialized === originOf(cors));
  };
  const check = csrf({ origin: allowed, secFetchSite: ['same-origin'] });
  return async (c, next) => {
    const fromPage = c.req.header('origin') !== undefined || c.req.header('sec-fetch-site') !== undefined;
    if (fromPage) {
      let passed = false;
      try {
        // Hono's check calls `next` when the request passes; ours runs after, outside its try.
        await check(c, () => {
          passed = true;
          return Promise.resolve();
        });
      } catch (error) {
        if (!(error instanceof HTTPException)) throw error;
      }
      if (!passed) {
        const from = `Origin ${c.req.header('origin') ?? 'none'}, Sec-Fetch-Site ${c.req.header('sec-fetch-site') ?? 'none'}`;
        return problemResponse(
          new HttpProblem(
            403,
            'CSRF_REJECTED',
            `cross-site ${c.req.method} refused (${from}): send application/json or use this server's origin`,
          ),
        );
      }
    }
    await next();
  };
}
