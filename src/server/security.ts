import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { forwardedRequest } from './forwarded-request.js';
import type { AuthFailureThrottle } from './middleware/auth-failure-throttle.js';
import { HttpProblem, problemResponse } from './problem.js';

/** Host names that always mean this machine. */
export const LOOPBACK_NAMES: readonly string[] = ['localhost', '127.0.0.1', '[::1]', '::1'];

/** True for a loopback interface address or name (`127.x.x.x`, `::1`, `localhost`). */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127(\.\d{1,3}){3}$/.test(bare);
}

/** Splits a `Host` header into name and port (`[::1]:80` → `[::1]`, `80`). */
function splitHost(header: string): { name: string; port: string | undefined } {
  const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(header.trim().toLowerCase());
  return match ? { name: match[1] ?? '', port: match[2] } : { name: '', port: undefined };
}

/** What {@link hostGuard} checks against; `port` is filled in once the server listens. */
export interface HostPolicy {
  names: Set<string>;
  port: number | undefined;
  /**
   * Behind a trusted reverse proxy: the port is not checked (the proxy listens on its own) and
   * `X-Forwarded-Host`, when present, must name an accepted host too. @default false
   */
  trustProxy?: boolean;
}

/**
 * Refuses requests whose `Host` header names another host (DNS rebinding: a page on
 * `evil.example` resolving to 127.0.0.1 sends `Host: evil.example`), or another port (a `Host`
 * without one means the scheme's, 80 or 443). 421 with a problem document.
 *
 * @example
 * app.use(hostGuard({ names: new Set(LOOPBACK_NAMES), port: 7433 }));
 */
export function hostGuard(policy: HostPolicy): MiddlewareHandler {
  return async (c, next) => {
    const url = new URL(c.req.url);
    // A Request built in process (app.fetch) has no Host header: its URL names the host then.
    const header = c.req.header('host') ?? url.host;
    const { name, port } = splitHost(header);
    const defaultPort = url.protocol === 'https:' ? 443 : 80;
    const portOk = policy.trustProxy === true || policy.port === undefined || Number(port ?? defaultPort) === policy.port;
    const forwarded = policy.trustProxy === true ? c.req.header('x-forwarded-host')?.split(',')[0]?.trim() : undefined;
    const refused =
      !policy.names.has(name) || !portOk
        ? header
        : forwarded !== undefined && !policy.names.has(splitHost(forwarded).name)
          ? forwarded
          : undefined;
    if (refused !== undefined) {
      return problemResponse(new HttpProblem(421, 'HOST_NOT_ALLOWED', `host ${JSON.stringify(refused)} is not served here`));
    }
    await next();
  };
}

const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/** Cookie the dashboard page sets after `/?token=…`, so its scripts and streams are authorized. */
export const TOKEN_COOKIE = 'sprout_token';

/** True when `presented` equals `token`, in constant time. */
export function tokenMatches(token: string, presented: string | undefined): boolean {
  if (presented === undefined) return false;
  return timingSafeEqual(digest(token), digest(presented));
}

/**
 * The `Set-Cookie` value that authorizes a browser: the token in an `HttpOnly`, `SameSite=Strict`
 * cookie (`Secure` over TLS). Set by the dashboard's `/?token=…` and by the Bamboo UIs' login
 * (`POST /v1/bamboo/access/verify`).
 *
 * @example
 * c.header('set-cookie', tokenCookie(token, request.secure));
 */
export function tokenCookie(token: string, secure: boolean): string {
  return `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`;
}

/**
 * True when the request carries `token` as `Authorization: Bearer` or in the {@link TOKEN_COOKIE}.
 *
 * @example
 * const signedIn = presentsToken(c.req.header('authorization'), c.req.header('cookie'), token);
 */
export function presentsToken(authorization: string | undefined, cookie: string | undefined, token: string): boolean {
  const bearer = authorization !== undefined && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : undefined;
  return tokenMatches(token, bearer) || tokenMatches(token, cookieValue(cookie, TOKEN_COOKIE));
}

/** A cookie's value; `undefined` when absent or not valid percent-encoding (a bad cookie is no credential, not a 500). */
function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key !== name) continue;
    try {
      return decodeURIComponent(rest.join('='));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** Options of {@link bearerGuard}. */
export interface BearerGuardOptions {
  /** Refuses a client (429) once it presented too many wrong tokens. @default none */
  throttle?: AuthFailureThrottle;
  /** Read the client address and scheme from `X-Forwarded-*` (see `trustProxy`). @default false */
  trustProxy?: boolean;
  /**
   * Paths served without a credential (any method), such as a login exchange and the probes a
   * login screen makes before it (see `BAMBOO_PUBLIC_PATHS`). @default none
   */
  publicPaths?: ReadonlySet<string>;
}

/**
 * Requires `Authorization: Bearer <token>` on every request but `publicPaths` (or the
 * `SameSite=Strict` cookie of {@link tokenCookie}, which `GET /?token=…` and a Bamboo UI's login
 * set; `Secure` over TLS). 401 with `WWW-Authenticate: Bearer`
 * otherwise. With a `throttle`, a client that presented too many wrong tokens gets 429
 * `TOO_MANY_AUTH_FAILURES` with `Retry-After`, whatever it presents, until its window ends.
 *
 * @example
 * app.use(bearerGuard('a-long-random-token-value', { throttle }));
 */
export function bearerGuard(token: string, { throttle, trustProxy = false, publicPaths }: BearerGuardOptions = {}): MiddlewareHandler {
  return async (c, next) => {
    if (publicPaths?.has(c.req.path) === true) return next();
    const request = forwardedRequest(c, trustProxy);
    const wait = throttle?.blockedFor(request.client) ?? 0;
    if (wait > 0) {
      const seconds = Math.max(1, Math.ceil(wait / 1000));
      return problemResponse(
        new HttpProblem(429, 'TOO_MANY_AUTH_FAILURES', `too many wrong tokens from this client; retry in ${seconds} s`, {
          headers: { 'retry-after': String(seconds) },
        }),
      );
    }
    const auth = c.req.header('authorization');
    const bearer = auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
    const fromQuery = c.req.method === 'GET' && c.req.path === '/' ? c.req.query('token') : undefined;
    const presented = [bearer, cookieValue(c.req.header('cookie'), TOKEN_COOKIE), fromQuery].filter((value) => value !== undefined);
    if (!presented.some((value) => tokenMatches(token, value))) {
      for (const value of presented) throttle?.fail(request.client, value);
      return problemResponse(
        new HttpProblem(401, 'UNAUTHORIZED', 'a valid Authorization: Bearer token is required', {
          headers: { 'www-authenticate': 'Bearer realm="sprout"' },
        }),
      );
    }
    await next();
    if (fromQuery !== undefined) {
      c.header('set-cookie', tokenCookie(token, request.secure));
    }
  };
}
