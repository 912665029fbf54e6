import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import { toBambooEvent } from './bamboo-dialect.js';
import type { BambooDialect } from './server-options.js';
import { encodeFrame } from './sse-stream.js';

// Frames are cached per envelope object: the hub hands the same envelope to every live
// subscriber, so a thousand clients cost one JSON.stringify per event, not a thousand.
const sproutFrames = new WeakMap<SessionEventEnvelope, Uint8Array>();
const bambooFrames = {
  sub_session: new WeakMap<SessionEventEnvelope, Uint8Array | null>(),
  sub_agent: new WeakMap<SessionEventEnvelope, Uint8Array | null>(),
};

/**
 * Sprout's SSE frame of one envelope: `id: <seq>`, `event: <type>`, `data: <event JSON>`.
 *
 * @example
 * sproutFrame({ seq: 3, sessionId: 'r', event: { type: 'token', content: 'hi' } }); // 'id: 3\nevent: token\ndata: {…}\n\n' as bytes
 */
export function sproutFrame(envelope: SessionEventEnvelope): Uint8Array {
  let bytes = sproutFrames.get(envelope);
  if (bytes === undefined) {
    bytes = encodeFrame(`id: ${envelope.seq}\nevent: ${envelope.event.type}\ndata: ${JSON.stringify(envelope.event)}\n\n`);
    sproutFrames.set(envelope, bytes);
  }
  return bytes;
}

/**
 * Bamboo's SSE frame of one envelope: `id: <seq>\ndata: <AgentEvent JSON>\n\n` (no event name;
 * Lotus's parser reads only the `data: ` line, an `EventSource` resumes from the id), or
 * `undefined` for events Bamboo does not know.
 *
 * @example
 * bambooFrame(envelope, 'sub_agent');
 */
export function bambooFrame(envelope: SessionEventEnvelope, dialect: BambooDialect): Uint8Array | undefined {
  const cache = bambooFrames[dialect];
  let bytes = cache.get(envelope);
  if (bytes === undefined) {
    const event = toBambooEvent(envelope.event, dialect);
    bytes = event === undefined ? null : encodeFrame(`id: ${envelope.seq}\ndata: ${JSON.stringify(event)}\n\n`);
    cache.set(envelope, bytes);
  }
  return bytes ?? undefined;
}
