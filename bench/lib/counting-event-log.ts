/**
 * An {@link EventLog} wrapper that counts the appends it passes on (always: one increment) and,
 * only while `measureBytes` is on, the UTF-8 bytes of `JSON.stringify(event)` of each one — what
 * `SqliteEventLog` writes to its `json` column. Bytes are off in timed loops: a stringify per
 * append would cost as much as the append being measured.
 *
 * Every other method of the wrapped log (`read`, `openRuns`, `flush`, `close`, and whatever else
 * it has, e.g. a commit hook a newer port adds) is forwarded bound to it, so the wrapper hides
 * nothing from the scheduler: the code path measured is the one the bare log would take.
 */
import type { AgentEvent, SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { EventLog, EventLogCapabilities, EventLogReadResult, MaybePromise } from '../../src/streams/event-log.js';

export class CountingEventLog implements EventLog {
  readonly capabilities: EventLogCapabilities;
  /** Appends passed on so far. */
  appends = 0;
  /** JSON bytes of the appends made while {@link measureBytes} was on. */
  bytes = 0;
  measureBytes = false;

  constructor(readonly inner: EventLog) {
    this.capabilities = inner.capabilities;
    const methods = inner as unknown as Record<string, unknown>;
    for (
      let proto: unknown = Object.getPrototypeOf(inner);
      proto !== null && proto !== Object.prototype;
      proto = Object.getPrototypeOf(proto)
    ) {
      for (const name of Object.getOwnPropertyNames(proto)) {
        if (name === 'constructor' || name in this) continue;
        const method = methods[name];
        if (typeof method === 'function') Object.defineProperty(this, name, { value: method.bind(inner), enumerable: false });
      }
    }
  }

  append(sessionId: string, event: AgentEvent): MaybePromise<SessionEventEnvelope> {
    this.appends += 1;
    if (this.measureBytes) this.bytes += Buffer.byteLength(JSON.stringify(event));
    return this.inner.append(sessionId, event);
  }

  read(sessionId: string, afterSeq: number): MaybePromise<EventLogReadResult> {
    return this.inner.read(sessionId, afterSeq);
  }
}
