import { Hono } from 'hono';
import { forwardedRequest, originOf } from '../forwarded-request.js';
import { HttpProblem, problemResponse } from '../problem.js';
import type { V2StreamHub } from './v2-stream-hub.js';

/** Key of the upgrade check on a request's `env` (set by {@link upgradeV2Stream} only, never by a client). */
export const V2_UPGRADE_CHECK = Symbol('sprout.v2UpgradeCheck');

/** What the route tells the upgrade handler: admitted, and for which client address. */
export interface V2UpgradeCheck {
  accepted: boolean;
  client: string;
}

/** Options of {@link v2StreamRoutes}. */
export interface V2StreamRouteOptions {
  hub: V2StreamHub;
  /** The `--cors` origin, whose pages may open the socket too. */
  cors: string | undefined;
  trustProxy: boolean;
}

/**
 * `GET /v2/stream`, the HTTP side of lotus-next's WebSocket. The upgrade handler of
 * `listenSproutServer` runs each upgrade request through the app first, so every middleware
 * (`Host` check, token or cookie, throttles) applies to it as to any request; this route then
 * admits it: a browser page's `Origin` must be this server's or the `cors` one (a page on another
 * site must not read the streams: 403 `CSRF_REJECTED`), and the socket caps hold (429 / 503). A
 * plain GET without the upgrade gets 426 `UPGRADE_REQUIRED`.
 *
 * @example
 * app.route('/', v2StreamRoutes({ hub, cors: undefined, trustProxy: false }));
 */
export function v2StreamRoutes({ hub, cors, trustProxy }: V2StreamRouteOptions): Hono {
  const app = new Hono();
  app.get('/v2/stream', (c) => {
    const check = (c.env as { [V2_UPGRADE_CHECK]?: V2UpgradeCheck } | undefined)?.[V2_UPGRADE_CHECK];
    if (check === undefined) {
      return problemResponse(
        new HttpProblem(426, 'UPGRADE_REQUIRED', '/v2/stream is a WebSocket: connect with Upgrade: websocket', {
          headers: { upgrade: 'websocket', connection: 'Upgrade' },
        }),
      );
    }
    const request = forwardedRequest(c, trustProxy);
    const origin = c.req.header('origin');
    if (origin !== undefined) {
      const serialized = originOf(origin);
      const allowed = serialized !== 'null' && (serialized === request.origin || (cors !== undefined && serialized === originOf(cors)));
      if (!allowed)
        return problemResponse(
          new HttpProblem(403, 'CSRF_REJECTED', `WebSocket from Origin ${origin} refused: not this server's origin nor the cors one`),
        );
    }
    const refused = hub.refusal(request.client);
    if (refused !== undefined) return problemResponse(refused);
    check.accepted = true;
    check.client = request.client;
    return c.body(null, 204);
  });
  return app;
}
