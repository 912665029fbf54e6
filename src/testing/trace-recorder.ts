import type { InspectionEvent } from 'xstate';

/**
 * One recorded inspection event, reduced to what tests assert on. Snapshots are not kept: only
 * their `value` (state value of machine actors) and `status`.
 */
export interface TraceEntry {
  /** The inspection event type (`@xstate.actor`, `@xstate.event`, `@xstate.snapshot`, ...). */
  readonly type: InspectionEvent['type'];
  /** `actorRef.id` of the actor concerned (the recipient, for `@xstate.event`). */
  readonly actorId: string;
  /** `actorRef.sessionId` of the actor concerned. */
  readonly sessionId: string;
  /** Session id of the root actor of the system. */
  readonly rootId: string;
  /** Type of the event received or processed (not for `@xstate.actor` / `@xstate.action`). */
  readonly eventType?: string;
  /** `@xstate.event`: id of the sending actor, when there is one. */
  readonly sourceId?: string;
  /** Snapshot / microstep / transition: the state value (machine actors only). */
  readonly value?: unknown;
  /** Snapshot / microstep / transition: the snapshot status (`active`, `done`, `error`, `stopped`). */
  readonly status?: string;
  /** `@xstate.action`: the action type. */
  readonly actionType?: string;
}

/** Options of {@link createTraceRecorder}. */
export interface TraceRecorderOptions {
  /** Keep at most this many entries (the oldest are dropped and counted). @default 100000 */
  limit?: number;
  /** Also hand every raw inspection event to this observer (e.g. `@statelyai/inspect`'s). */
  forward?: (event: InspectionEvent) => void;
}

/** Options of {@link TraceRecorder.stateValuesOf}. */
export interface StateValuesOptions {
  /** Read microsteps as well as macrostep snapshots (shows transient states too). @default false */
  microsteps?: boolean;
}

/** The recorder {@link createTraceRecorder} returns. */
export interface TraceRecorder {
  /** Pass as XState's `inspect` option (`createActor(m, { inspect: trace.inspect })`). */
  readonly inspect: (event: InspectionEvent) => void;
  /** Recorded entries, oldest first. */
  readonly events: readonly TraceEntry[];
  /** Entries dropped because of `limit`. */
  readonly dropped: number;
  /** Distinct actor ids, in the order they first appeared. */
  actorIds(): string[];
  /** Entries of actors whose id starts with `actorIdPrefix` (or whose sessionId equals it), optionally of one type. */
  entriesOf(actorIdPrefix: string, type?: InspectionEvent['type']): TraceEntry[];
  /** State values of matching actors in order, consecutive repeats of one actor collapsed. */
  stateValuesOf(actorIdPrefix: string, options?: StateValuesOptions): unknown[];
  /** Types of the events matching actors received, in order. */
  eventTypesOf(actorIdPrefix: string): string[];
  /** Types of the actions matching actors executed, in order. */
  actionTypesOf(actorIdPrefix: string): string[];
  /** Forgets every entry (and the dropped count). */
  clear(): void;
}

function idOf(ref: unknown): string | undefined {
  const id = (ref as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : undefined;
}

function toEntry(event: InspectionEvent): TraceEntry {
  const { actorRef, rootId, type } = event;
  const base = { type, actorId: idOf(actorRef) ?? actorRef.sessionId, sessionId: actorRef.sessionId, rootId };
  switch (event.type) {
    case '@xstate.actor':
      return base;
    case '@xstate.action':
      return { ...base, actionType: event.action.type };
    case '@xstate.event': {
      const sourceId = idOf(event.sourceRef);
      return { ...base, eventType: event.event.type, ...(sourceId === undefined ? {} : { sourceId }) };
    }
    default: {
      const snapshot = event.snapshot as { value?: unknown; status?: unknown };
      return {
        ...base,
        eventType: event.event.type,
        ...('value' in snapshot ? { value: snapshot.value } : {}),
        ...(typeof snapshot.status === 'string' ? { status: snapshot.status } : {}),
      };
    }
  }
}

const sameValue = (a: unknown, b: unknown): boolean => a === b || JSON.stringify(a) === JSON.stringify(b);

/**
 * Records an XState inspection trace compactly (ids, event types, state values; never whole
 * snapshots), for assertions on how actors moved.
 *
 * @example
 * const trace = createTraceRecorder();
 * const scheduler = createSpawnScheduler({ store, agent, clock, inspect: trace.inspect });
 * // ... run a job ...
 * expect(trace.stateValuesOf('job-')).toEqual(['loading', 'reserving', 'running', 'completed']);
 */
export function createTraceRecorder(options: TraceRecorderOptions = {}): TraceRecorder {
  const limit = options.limit ?? 100_000;
  let events: TraceEntry[] = [];
  let dropped = 0;
  const matches = (entry: TraceEntry, prefix: string): boolean => entry.actorId.startsWith(prefix) || entry.sessionId === prefix;

  const entriesOf = (prefix: string, type?: InspectionEvent['type']): TraceEntry[] =>
    events.filter((entry) => matches(entry, prefix) && (type === undefined || entry.type === type));

  return {
    inspect(event) {
      events.push(toEntry(event));
      if (events.length > limit) {
        events.shift();
        dropped += 1;
      }
      options.forward?.(event);
    },
    get events() {
      return events;
    },
    get dropped() {
      return dropped;
    },
    actorIds() {
      return [...new Set(events.map((entry) => entry.actorId))];
    },
    entriesOf,
    stateValuesOf(prefix, { microsteps = false } = {}) {
      const last = new Map<string, unknown>();
      const values: unknown[] = [];
      const types = new Set<InspectionEvent['type']>(microsteps ? ['@xstate.snapshot', '@xstate.microstep'] : ['@xstate.snapshot']);
      for (const entry of entriesOf(prefix)) {
        if (!types.has(entry.type) || !('value' in entry)) continue;
        if (last.has(entry.sessionId) && sameValue(last.get(entry.sessionId), entry.value)) continue;
        last.set(entry.sessionId, entry.value);
        values.push(entry.value);
      }
      return values;
    },
    eventTypesOf(prefix) {
      return entriesOf(prefix, '@xstate.event').flatMap((entry) => (entry.eventType === undefined ? [] : [entry.eventType]));
    },
    actionTypesOf(prefix) {
      return entriesOf(prefix, '@xstate.action').flatMap((entry) => (entry.actionType === undefined ? [] : [entry.actionType]));
    },
    clear() {
      events = [];
      dropped = 0;
    },
  };
}
