import type { StatelyInspectionEvent } from '@statelyai/inspect';

/** Event types that are progress noise rather than state changes (wire events, if an app forwards them as XState events). */
const NOISY_EVENT_TYPES = new Set(['token', 'reasoning_token', 'sub_session_heartbeat']);

/**
 * True for inspection events that would drown the Stately inspector without showing anything
 * new: the job machine's heartbeat ticks (the delayed `xstate.after.heartbeatInterval…` event
 * that re-enters `running.heartbeat.beating`, and the snapshot it produces), and token or
 * heartbeat events should an app forward them to an actor. Actor registrations are never noise.
 *
 * @example
 * createWebSocketInspector({ url, filter: (event) => !isInspectorNoise(event) });
 */
export function isInspectorNoise(event: StatelyInspectionEvent): boolean {
  if (event.type === '@xstate.actor') return false;
  const type = (event.event as { type?: unknown } | undefined)?.type;
  if (typeof type !== 'string') return false;
  if (type.startsWith('xstate.after.') && type.includes('heartbeatInterval')) return true;
  if (NOISY_EVENT_TYPES.has(type)) return true;
  if (type === 'sub_session_event') {
    const inner = (event.event as { event?: { type?: unknown } }).event?.type;
    return inner === 'token' || inner === 'reasoning_token';
  }
  return false;
}
