/**
 * The "raw" forwarding baseline: a Subject → map → Subject chain that wraps each child event in
 * the same `sub_session_event` envelope with a per-session seq, delivered to two subscribers.
 * No validation, no retention, no subscriber guards: the floor for forwarding in RxJS.
 */
import { Subject, map } from 'rxjs';
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';

/** Pushes `count` token events through the chain; returns events/s and what each subscriber saw. */
export function rawForwarding(count: number): { eventsPerSec: number; received: [number, number] } {
  const child = new Subject<AgentEvent>();
  const parent = new Subject<SessionEventEnvelope>();
  let seq = 0;
  child
    .pipe(
      map((event): SessionEventEnvelope => ({
        seq: ++seq,
        sessionId: 'root',
        event: { type: 'sub_session_event', parent_session_id: 'root', child_session_id: 'child-0', run_id: 'run-0', event },
      })),
    )
    .subscribe(parent);
  const received: [number, number] = [0, 0];
  parent.subscribe(() => (received[0] += 1));
  parent.subscribe(() => (received[1] += 1));
  const start = performance.now();
  for (let i = 0; i < count; i++) child.next({ type: 'token', content: 'tok ' });
  const ms = performance.now() - start;
  child.complete();
  return { eventsPerSec: count / (ms / 1000), received };
}
