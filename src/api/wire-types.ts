/**
 * The public wire types: sessions, messages and the events of a session stream, in Bamboo's JSON
 * shape (snake_case fields, events tagged by `type`). They are written out as documented
 * interfaces so an editor shows what each field means; `test/package/public-types.types.test.ts`
 * checks at type level that each one matches its zod schema in `machines/`, so they cannot drift.
 */

/** Who wrote a message, as in Bamboo: `system`, `user`, `assistant` or `tool`. */
export type MessageRole = 'system' | 'user' | 'assistant' | 'tool';

/**
 * One message of a session (Bamboo wire shape). Unknown fields (tool calls, reasoning, …) are
 * kept, so a Bamboo message survives a round trip through Sprout unchanged.
 *
 * @example
 * const message: Message = { id: 'm1', role: 'user', content: 'Find three sources on X', created_at: new Date().toISOString() };
 */
export interface Message {
  /** Unique within the session. */
  id: string;
  /** Who wrote it. A child runs only when its last message is a `user` message. */
  role: MessageRole;
  /** The text of the message. */
  content: string;
  /** When it was written (RFC 3339 UTC, e.g. `2026-01-01T00:00:00.000Z`). */
  created_at: string;
  /** For a `tool` message: the id of the tool call it answers. */
  tool_call_id?: string | undefined;
  /** Any other field is kept as is. */
  [field: string]: unknown;
}

/** `root` for a top-level session, `child` for a session spawned by another one. */
export type SessionKind = 'root' | 'child';

/**
 * The values of a child session's `last_run_status` metadata: `pending` (queued), `running`,
 * then one of the ends `completed`, `error`, `cancelled`, `skipped`.
 */
export type RunStatusMetadata = 'pending' | 'running' | 'completed' | 'error' | 'cancelled' | 'skipped';

/**
 * A session (Bamboo wire shape). A session with just these fields is valid; unknown fields are
 * kept. Child sessions carry `last_run_status`, `last_run_error` and `last_run_id` in `metadata`
 * (see {@link METADATA_KEYS}).
 *
 * @example
 * const now = new Date().toISOString();
 * const root: Session = {
 *   id: 'root', title: 'Parent', kind: 'root', root_session_id: 'root', spawn_depth: 0, model: 'gpt-4o',
 *   messages: [], metadata: {}, created_at: now, updated_at: now,
 * };
 */
export interface Session {
  /** Unique id of the session. */
  id: string;
  /** Human-readable title (a child's title comes from its brief). */
  title: string;
  /** `root` or `child`. Only `child` sessions can be run by the scheduler. */
  kind: SessionKind;
  /** For a child: the session that spawned it. */
  parent_session_id?: string | undefined;
  /** The root of the session tree (a root session names itself). */
  root_session_id: string;
  /** Depth in the tree: 0 for a root, parent + 1 for a child. */
  spawn_depth: number;
  /** The model the session runs on (a job's `model` overrides it for one run). */
  model: string;
  /** The conversation, oldest first. */
  messages: Message[];
  /** String metadata; Sprout writes `last_run_status`, `last_run_error`, `last_run_id` on children. */
  metadata: Record<string, string>;
  /** When the session was created (RFC 3339 UTC). */
  created_at: string;
  /** When the session was last saved (RFC 3339 UTC). */
  updated_at: string;
  /**
   * Optimistic-concurrency counter managed by Sprout's stores: a save that carries an older
   * version than the stored one fails with `SessionConflictError`. Leave it unset on new sessions.
   */
  version?: number | undefined;
  /** Any other field is kept as is. */
  [field: string]: unknown;
}

/**
 * Token usage reported by `complete`. Providers report different counters, so other fields are kept.
 *
 * @example
 * const usage: Usage = { prompt_tokens: 12, completion_tokens: 30, total_tokens: 42 };
 */
export interface Usage {
  /** Tokens of the prompt. */
  prompt_tokens?: number | undefined;
  /** Tokens the model generated. */
  completion_tokens?: number | undefined;
  /** Prompt plus completion tokens. */
  total_tokens?: number | undefined;
  /** Provider-specific counters. */
  [field: string]: unknown;
}

/** How a run ended, as reported by `sub_session_completed.status`. */
export type CompletionStatus = 'completed' | 'error' | 'cancelled' | 'skipped';

/**
 * Why a run ended that way (`sub_session_completed.reason`): cancelled by the `user`, with its
 * `parent` tree, `deleted` with its session, at `shutdown`; or ended in `error` by a `timeout`,
 * as `idle`, or `interrupted` by a crash (recovered on the next `start()`).
 */
export type CompletionReason = 'user' | 'parent' | 'timeout' | 'idle' | 'deleted' | 'shutdown' | 'interrupted';

/**
 * A piece of the model's answer text.
 *
 * @example
 * request.emit({ type: 'token', content: 'Hel' });
 */
export interface TokenEvent {
  /** The event's tag. */
  type: 'token';
  /** The text delta. */
  content: string;
}

/**
 * A piece of the model's reasoning text.
 *
 * @example
 * request.emit({ type: 'reasoning_token', content: 'First, ' });
 */
export interface ReasoningTokenEvent {
  /** The event's tag. */
  type: 'reasoning_token';
  /** The reasoning delta. */
  content: string;
}

/**
 * The agent started a tool call.
 *
 * @example
 * request.emit({ type: 'tool_start', tool_call_id: 'call-1', tool_name: 'web_search', arguments: { q: 'xstate' } });
 */
export interface ToolStartEvent {
  /** The event's tag. */
  type: 'tool_start';
  /** Id of the call; its `tool_complete` or `tool_error` carries the same id. */
  tool_call_id: string;
  /** Name of the tool. */
  tool_name: string;
  /** The call's arguments (any JSON). */
  arguments: unknown;
}

/**
 * A tool call finished.
 *
 * @example
 * request.emit({ type: 'tool_complete', tool_call_id: 'call-1', result: '3 hits' });
 */
export interface ToolCompleteEvent {
  /** The event's tag. */
  type: 'tool_complete';
  /** Id of the call (see {@link ToolStartEvent}). */
  tool_call_id: string;
  /** What the tool returned (any JSON). */
  result: unknown;
}

/**
 * A tool call failed.
 *
 * @example
 * request.emit({ type: 'tool_error', tool_call_id: 'call-1', error: 'timeout' });
 */
export interface ToolErrorEvent {
  /** The event's tag. */
  type: 'tool_error';
  /** Id of the call (see {@link ToolStartEvent}). */
  tool_call_id: string;
  /** What went wrong. */
  error: string;
}

/**
 * The agent loop finished a model call, with its token usage.
 *
 * @example
 * request.emit({ type: 'complete', usage: { total_tokens: 42 } });
 */
export interface CompleteEvent {
  /** The event's tag. */
  type: 'complete';
  /** Token usage of the call. */
  usage: Usage;
}

/**
 * The agent loop reports an error (the run's own failure is the rejected `execute` promise).
 *
 * @example
 * request.emit({ type: 'error', message: 'rate limited, retrying' });
 */
export interface ErrorEvent {
  /** The event's tag. */
  type: 'error';
  /** What went wrong. */
  message: string;
}

/**
 * Published on the parent's stream once a child's run is queued: the first event of every run.
 *
 * @example
 * if (event.type === 'sub_session_started') console.log(`${event.title ?? event.child_session_id} queued as ${event.run_id}`);
 */
export interface SubSessionStartedEvent {
  /** The event's tag. */
  type: 'sub_session_started';
  /** The parent whose stream this is. */
  parent_session_id: string;
  /** The child that will run. */
  child_session_id: string;
  /** The child's title, when known (always set by `spawnChild`). */
  title?: string | undefined;
  /** Id of the run; every later event of the run carries it. Unique per store, for ever. */
  run_id: string;
}

/**
 * One event of a running child, forwarded on the parent's stream (every child event comes before
 * the run's completion).
 *
 * @example
 * if (event.type === 'sub_session_event' && event.event.type === 'token') process.stdout.write(event.event.content);
 */
export interface SubSessionEvent {
  /** The event's tag. */
  type: 'sub_session_event';
  /** The parent whose stream this is. */
  parent_session_id: string;
  /** The child that emitted the event. */
  child_session_id: string;
  /** The child's run. */
  run_id: string;
  /** The child's own event (itself a `sub_session_event` when a grandchild's event is forwarded). */
  event: AgentEvent;
}

/**
 * Published on the parent's stream while a child runs: once as running begins, then every
 * `heartbeatIntervalMs`; never after the run's completion.
 *
 * @example
 * if (event.type === 'sub_session_heartbeat') console.log(`${event.child_session_id}: ${event.events_seen} events`);
 */
export interface SubSessionHeartbeatEvent {
  /** The event's tag. */
  type: 'sub_session_heartbeat';
  /** The parent whose stream this is. */
  parent_session_id: string;
  /** The running child. */
  child_session_id: string;
  /** The child's run. */
  run_id: string;
  /** When the heartbeat was sent (RFC 3339 UTC). */
  timestamp: string;
  /** How many events the child emitted so far in this run. */
  events_seen: number;
  /** When the child last emitted an event (RFC 3339 UTC); unset before its first event. */
  last_event_at?: string | undefined;
  /** While the child waits for its own children (it holds no slot): the children it waits for. */
  waiting_on?: string[] | undefined;
}

/**
 * Published on the parent's stream exactly once per run, after the child session was saved: the
 * last event of the run.
 *
 * @example
 * if (event.type === 'sub_session_completed') console.log(event.status, event.result ?? event.error);
 */
export interface SubSessionCompletedEvent {
  /** The event's tag. */
  type: 'sub_session_completed';
  /** The parent whose stream this is. */
  parent_session_id: string;
  /** The child whose run ended. */
  child_session_id: string;
  /** The run that ended. */
  run_id: string;
  /** How it ended: `completed`, `error`, `cancelled` or `skipped`. */
  status: CompletionStatus;
  /** What went wrong (for `error`, and `skipped`'s `No pending message to execute`). */
  error?: string | undefined;
  /** Why it ended that way (cancel reasons, `timeout`, `idle`, `interrupted`). */
  reason?: CompletionReason | undefined;
  /** The child's final answer (its last assistant message), at most 4000 characters. */
  result?: string | undefined;
}

/**
 * A replay (`events(id, { afterSeq })`) asked for events older than the ones still retained:
 * sent first, so a gap is never silent.
 *
 * @example
 * if (event.type === 'stream_truncated') console.warn(`events before ${event.first_retained_seq} are gone`);
 */
export interface StreamTruncatedEvent {
  /** The event's tag. */
  type: 'stream_truncated';
  /** The oldest sequence number still retained. */
  first_retained_seq: number;
}

/**
 * Every event a session stream can carry, tagged by `type` (Bamboo's wire format). Narrow with
 * `event.type`.
 *
 * @example
 * function describe(event: AgentEvent): string {
 *   switch (event.type) {
 *     case 'token': return event.content;
 *     case 'sub_session_completed': return `${event.child_session_id} ${event.status}`;
 *     default: return event.type;
 *   }
 * }
 */
export type AgentEvent =
  | TokenEvent
  | ReasoningTokenEvent
  | ToolStartEvent
  | ToolCompleteEvent
  | ToolErrorEvent
  | CompleteEvent
  | ErrorEvent
  | SubSessionStartedEvent
  | SubSessionEvent
  | SubSessionHeartbeatEvent
  | SubSessionCompletedEvent
  | StreamTruncatedEvent;

/** The `type` tags of {@link AgentEvent}. */
export type AgentEventType = AgentEvent['type'];

/**
 * The member of {@link AgentEvent} tagged `T`.
 *
 * @example
 * const done: AgentEventOf<'sub_session_completed'>[] = [];
 */
export type AgentEventOf<T extends AgentEventType> = Extract<AgentEvent, { type: T }>;

/**
 * One event of a session stream (what `scheduler.events()` emits).
 *
 * @example
 * scheduler.events('root', { afterSeq: lastSeen }).subscribe(({ seq, event }) => { lastSeen = seq; render(event); });
 */
export interface SessionEventEnvelope {
  /** Position in the session's stream: starts at 1, grows by one per event, never repeats. */
  seq: number;
  /** The session whose stream this is. */
  sessionId: string;
  /** The event. */
  event: AgentEvent;
}
