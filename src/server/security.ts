import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
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
}

/**
 * Refuses requests whose `Host` header names another host (DNS rebinding: a page on
 * `evil.example` resolving to 127.0.0.1 sends `Host: evil.example`). 421 with a problem document.
 *
 * @example
 * app.use(hostGuard({ names: new Set(LOOPBACK_NAMES), port: 7433 }));
 */
export function hostGuard(policy: HostPolicy): MiddlewareHandler {
  return async (c, next) => {
    // A Request built in process (app.fetch) has no Host header: its URL names the host then.
    const header = c.req.header('host') ?? new URL(c.req.url).host;
    const { name, port } = splitHost(header ?? '');
    const portOk = policy.port === undefined || Number(port ?? 80) === policy.port;
    if (!policy.names.has(name) || !portOk) {
      return problemResponse(new HttpProblem(421, 'HOST_NOT_ALLOWED', `host ${JSON.stringify(header ?? '')} is not served here`));
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

function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) return decodeURIComponent(rest.join('='));
  }
  return undefined;
}

/**
 * Requires `Authorization: Bearer <token>` on every request (or the dashboard's `SameSite=Strict`
 * cookie, which `GET /?token=…` sets). 401 with `WWW-Authenticate: Bearer` otherwise.
 *
 * @example
 * app.use(bearerGuard('a-long-random-token-value'));
 */
export function bearerGuard(token: string): MiddlewareHandler {
  return async (c, next) => {
    const auth = c.req.header('authorization');
    const bearer = auth !== undefined && /^bearer /i.test(auth) ? auth.slice(7).trim() : undefined;
    const fromQuery = c.req.method === 'GET' && c.req.path === '/' ? c.req.query('token') : undefined;
    const ok =
      tokenMatches(token, bearer) ||
      tokenMatches(token, cookieValue(c.req.header('cookie'), TOKEN_COOKIE)) ||
      tokenMatches(token, fromQuery);
    if (!ok) {
      return problemResponse(
        new HttpProblem(401, 'UNAUTHORIZED', 'a valid Authorization: Bearer token is required', {
          headers: { 'www-authenticate': 'Bearer realm="sprout"' },
        }),
      );
    }
    await next();
    if (fromQuery !== undefined) {
      c.header('set-cookie', `${TOKEN_COOKIE}=${encodeURIComponent(token)}; Path=/; HttpOnly; SameSite=Strict`);
    }
  };
}
