import { z } from 'zod';
import type { AgentEvent } from '../../../machines/agent-event.events.js';
import { toBambooEvent, type BambooEvent } from '../bamboo-dialect.js';
import type { ChangeEvent } from './feed-journal.js';

const cursorSchema = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/**
 * What a client may send on `/v2/stream` (JSON text frames, Bamboo's `ws_v2` protocol as lotus-next
 * speaks it): `hello`, `subscribe` (`feed` with `since`; `agent.<sid>`, where `since` is Sprout's
 * extension: resume after that stream `seq`), `unsubscribe`, `stop`, `ping`. Anything else is
 * ignored, as Bamboo's server does.
 *
 * @example
 * clientFrameSchema.safeParse({ type: 'subscribe', ch: 'feed', since: 12 });
 */
export const clientFrameSchema = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('hello'), device_id: z.string().optional(), token: z.string().optional() }),
  z.looseObject({ type: z.literal('subscribe'), ch: z.string().min(1).max(300), since: cursorSchema.optional() }),
  z.looseObject({ type: z.literal('unsubscribe'), ch: z.string().min(1).max(300) }),
  z.looseObject({ type: z.literal('stop'), session_id: z.string().min(1).max(256) }),
  z.looseObject({ type: z.literal('ping') }),
]);
/** A client frame. */
export type ClientFrame = z.infer<typeof clientFrameSchema>;

/** The account feed's channel name. */
export const FEED_CHANNEL = 'feed';
/** Prefix of a session's agent channel (`agent.<session id>`). */
export const AGENT_CHANNEL_PREFIX = 'agent.';

/** A server frame on a channel: an event, or a control (`terminal`, `feed_reset`, `keepalive`). */
export type ChannelFrame =
  | { ch: string; seq: number; event: BambooEvent | ChangeEvent }
  | { ch: string; seq: number; control: Record<string, unknown> & { type: string } };

/**
 * One of a session's own events as lotus-next reads it: Bamboo's current names (`sub_agent_*`),
 * a cancelled run's `error` as `cancelled` (lotus-next handles it: it reloads history, no error
 * banner), via {@link toBambooEvent} in the `sub_agent` dialect. `undefined` for events Bamboo
 * does not know.
 *
 * @example
 * toLotusEvent({ type: 'error', message: 'run cancelled (reason: user)' });
 * // { type: 'cancelled', message: 'Agent execution cancelled by user' }
 */
export function toLotusEvent(event: AgentEvent): BambooEvent | undefined {
  return toBambooEvent(event, 'sub_agent');
}

/** True for the events that end a run on its session's own stream (`complete`, `error`). */
export function isTerminalEvent(event: AgentEvent): boolean {
  return event.type === 'complete' || event.type === 'error';
}
