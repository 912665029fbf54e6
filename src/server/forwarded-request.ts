import type { IncomingMessage } from 'node:http';
import type { Context } from 'hono';

/** Where a request came from and what it was addressed to, as the server should see it. */
export interface ForwardedRequest {
  /** The `Host` the client used: `X-Forwarded-Host` behind a trusted proxy, else `Host`. */
  readonly host: string;
  /** True over TLS: this server's own, or the proxy's (`X-Forwarded-Proto: https`) when trusted. */
  readonly secure: boolean;
  /** `https://host` or `http://host`: the origin a page served by this request has. */
  readonly origin: string;
  /** The client's address: the socket's peer, or the last `X-Forwarded-For` entry when trusted. */
  readonly client: string;
}

/** First entry of a comma-separated header (`X-Forwarded-Host: a, b` → `a`). */
const first = (value: string | undefined): string | undefined => value?.split(',')[0]?.trim() || undefined;
/** Last entry (`X-Forwarded-For: forged, real` → `real`: the one the trusted proxy appended). */
const last = (value: string | undefined): string | undefined => value?.split(',').at(-1)?.trim() || undefined;

/**
 * The serialized origin of a URL (`https://A:443` → `https://a`), or `'null'` (what a browser sends for an opaque origin) for one that does not parse.
 *
 * @example
 * originOf('https://Example.com:443/x'); // 'https://example.com'
 */
export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'null';
  }
}

/**
 * Reads a request's host, scheme and client address. Without `trustProxy` only what the socket
 * and the `Host` header say counts; with it, the `X-Forwarded-*` headers a reverse proxy sets.
 * On runtimes other than @hono/node-server the client address is `unknown`.
 *
 * @example
 * const { client, secure } = forwardedRequest(c, options.trustProxy);
 */
export function forwardedRequest(c: Context, trustProxy: boolean): ForwardedRequest {
  const url = new URL(c.req.url);
  const hostHeader = c.req.header('host') ?? url.host;
  const forwardedProto = trustProxy ? first(c.req.header('x-forwarded-proto'))?.toLowerCase() : undefined;
  const host = (trustProxy ? first(c.req.header('x-forwarded-host')) : undefined) ?? hostHeader;
  const secure = forwardedProto === undefined ? url.protocol === 'https:' : forwardedProto === 'https';
  const incoming = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming;
  const peer = incoming?.socket?.remoteAddress ?? 'unknown';
  const client = (trustProxy ? last(c.req.header('x-forwarded-for')) : undefined) ?? peer;
  return { host: host.toLowerCase(), secure, origin: originOf(`${secure ? 'https' : 'http'}://${host}`), client };
}
