import type { MiddlewareHandler } from 'hono';
import { secureHeaders } from 'hono/secure-headers';
import { forwardedRequest } from '../forwarded-request.js';
import { isLoopbackHost } from '../security.js';

/** HSTS sent on requests that arrived over TLS (never for loopback names: it would pin `localhost` to https). */
export const HSTS = 'max-age=15552000';

/**
 * The headers a response gets unless its route set its own (the dashboard page sets its own
 * CSP): an API answer is data, never a page to render, frame or embed. Exported for the SSE
 * streams written straight to the socket, which no middleware sees.
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
};

const base = {
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  xFrameOptions: 'DENY',
  // A header a route set (the dashboard's CSP, an asset's type options) wins.
  overwrite: false,
};

/**
 * Hono's `secureHeaders` with Sprout's choices ({@link SECURITY_HEADERS}): a `default-src 'none'`
 * CSP for everything but the dashboard page (which sends its own), `X-Frame-Options: DENY`, and
 * `Strict-Transport-Security` only on requests that came over TLS (this server's, or a trusted
 * proxy's) to a non-loopback name.
 *
 * @example
 * app.use(securityHeaders({ trustProxy: false }));
 */
export function securityHeaders({ trustProxy }: { trustProxy: boolean }): MiddlewareHandler {
  const plain = secureHeaders({ ...base, strictTransportSecurity: false });
  const overTls = secureHeaders({ ...base, strictTransportSecurity: HSTS });
  return async (c, next) => {
    const request = forwardedRequest(c, trustProxy);
    const hsts = request.secure && !isLoopbackHost(request.host.replace(/:\d+$/, ''));
    return (hsts ? overTls : plain)(c, next);
  };
}
