/**
 * The ports (README.md, "Public API") as documented public interfaces. Sprout's own adapters implement them;
 * `test/package/public-types.types.test.ts` checks that they match the internal port types.
 */
import type { SessionSummaryFilter, SessionSummaryPage, SessionSummaryQuery } from './session-summary.js';
import type { AgentEvent, RunStatusMetadata, Session, SessionEventEnvelope } from './wire-types.js';

/**
 * A value or a promise of it. The ports' methods may answer either way: an in-process adapter
 * (memory, better-sqlite3) answers at once and keeps the hot path free of promise turns; a
 * networked one (PostgreSQL, Redis) returns a promise. Sprout handles both and keeps the order.
 *
 * @example
 * const lastSeq = async (log: EventLog, id: string) => (await log.read(id, Number.MAX_SAFE_INTEGER)).lastSeq;
 */
export type MaybePromise<T> = T | PromiseLike<T>;

/**
 * What a {@link SessionStore} declares about itself, so the scheduler never has to ask which
 * adapter it is (`instanceof`).
 *
 * @example
 * const capabilities: SessionStoreCapabilities = { validatedLoads: true, runStatusIndex: true };
 */
export interface SessionStoreCapabilities {
  /**
   * `load` returns a fresh copy already checked against the session schema, so the scheduler
   * skips checking it again. Leave it unset for a store whose data may come from elsewhere.
   */
  readonly validatedLoads?: boolean;
  /** `listByRunStatus` is implemented (crash recovery from stored run status is possible). */
  readonly runStatusIndex?: boolean;
  /** `listSummaries` and `countSummaries` are implemented (paged listings without messages). */
  readonly summaries?: boolean;
}

/**
 * Options the scheduler passes to {@link SessionStore.openEventLog}.
 *
 * @example
 * const options: CompanionEventLogOptions = { retention: 1000, onError: (error) => console.error(error) };
 */
export interface CompanionEventLogOptions {
  /** Envelopes kept per session for replay. */
  retention: number;
  /** Gets a failure of a background write (a batched flush). */
  onError(error: unknown): void;
}

/**
 * The ownership token of one run: the run id and the owner's epoch. Whoever takes a run over
 * (a worker recovering it from a lost one) gets a higher epoch; a write carrying an older one is
 * refused with `RunFencedError`, so nothing a lost owner writes after losing its run is stored.
 *
 * @example
 * const fence: RunFence = { runId: 'run-1', epoch: 2 };
 * await store.save(child, { fence });
 */
export interface RunFence {
  /** The run whose writes are fenced. */
  runId: string;
  /** The epoch the writer holds (from its claim). */
  epoch: number;
}

/**
 * Options of a write of a run (`SessionStore.save`, `EventLog.append`).
 *
 * @example
 * await log.append(parentId, event, { fence: { runId, epoch } });
 */
export interface WriteOptions {
  /** The writer's ownership token: the write happens only while it is still the run's. */
  fence?: RunFence | undefined;
}

/**
 * Where sessions live. `save` replaces the whole session. Adapters may check `session.version`
 * for optimistic concurrency (throwing `SessionConflictError`) and then write the new version
 * back into the object they were given. Every adapter should pass the conformance suite.
 *
 * @example
 * const store: SessionStore = new MemorySessionStore();
 * await store.save(session);
 * const again = await store.load(session.id);
 */
export interface SessionStore {
  /** The session with this id, or `undefined` when there is none. */
  load(id: string): Promise<Session | undefined>;
  /**
   * Creates or replaces the session. With `options.fence`, a store that can fence (see
   * {@link RunFence}) writes only while the fence is still the run's, else rejects with
   * `RunFencedError`; other stores ignore it.
   */
  save(session: Session, options?: WriteOptions): Promise<void>;
  /** Deletes the session; resolves `true` when it existed. */
  delete(id: string): Promise<boolean>;
  /** The sessions whose `parent_session_id` is this one. */
  listChildren(parentSessionId: string): Promise<Session[]>;
  /**
   * Child sessions whose metadata `last_run_status` is one of `statuses` (used by recovery in
   * `start()`). Optional: a store without it gets no recovery.
   */
  listByRunStatus?(statuses: readonly RunStatusMetadata[]): Promise<Session[]>;
  /**
   * Root sessions whose metadata `last_run_status` is one of `statuses`: a root's own run
   * (`scheduler.run`) that a crash left `running` / `pending` is ended by recovery in `start()`.
   * Optional: without it such a root keeps its stale status until its next message.
   */
  listRootsByRunStatus?(statuses: readonly RunStatusMetadata[]): Promise<Session[]>;
  /**
   * One page of session summaries (no messages) matching the query's filter, in its `order`
   * (`created`: `created_at`, then `id`), with an opaque `nextCursor` for the next page. Reads
   * only summary columns the store keeps up to date on every `save`, so a page costs
   * O(`limit`), not O(all sessions). An invalid query (a `limit` outside 1…1000, a cursor this
   * store did not return for that order, `cursor` with `offset`) rejects with
   * `SproutValidationError`. Optional: the server's listings need it (declare
   * `capabilities.summaries`).
   *
   * @example
   * const { items, nextCursor } = await store.listSummaries({ kind: 'root', limit: 50 });
   */
  listSummaries?(query: SessionSummaryQuery): Promise<SessionSummaryPage>;
  /**
   * How many sessions match the filter (for a listing's `total`). Implemented with
   * `listSummaries`.
   *
   * @example
   * const total = await store.countSummaries({ kind: 'root' });
   */
  countSummaries?(filter: SessionSummaryFilter): Promise<number>;
  /** What this store declares about itself (absent: nothing is assumed). */
  readonly capabilities?: SessionStoreCapabilities;
  /**
   * An event log kept in the same database, so events, `seq` and the run ledger live (and
   * survive) where the sessions do. The scheduler uses it when no `eventLog` option is given;
   * without it the scheduler keeps events in memory.
   */
  openEventLog?(options: CompanionEventLogOptions): EventLog;
}

/**
 * What one agent run gets besides the session.
 *
 * @example
 * const request: ExecuteRequest = { model: 'gpt-4o', signal: AbortSignal.timeout(60_000), emit: (event) => console.log(event.type) };
 */
export interface ExecuteRequest {
  /** The model this run uses (the job's `model`). */
  model: string;
  /** Aborts when the run is cancelled or times out; the agent must stop soon after. */
  signal: AbortSignal;
  /**
   * Emits one event of the session's agent; Sprout validates it, publishes it on the session's
   * own stream and forwards it up the tree (`sub_session_event` on the parent, and so on). An
   * invalid event ends the run in `error`. The run publishes its one terminal event itself when
   * it ends: an emitted `complete` gives its usage, an emitted `error` is not published.
   */
  emit(event: AgentEvent): void;
  /** Opaque tools, passed through from the scheduler's `tools` option. */
  tools?: unknown;
  /**
   * The scheduler running this session, for agents that grow a tree: spawn children under the
   * session and wait for them (a wait gives the run's slot back). `aiSdkAgent` turns it into the
   * `spawn_session` / `wait_children` tools.
   */
  spawner?: Spawner | undefined;
}

/**
 * What an agent may ask of the scheduler that runs it (`ExecuteRequest.spawner`): the two calls
 * behind Bamboo's `spawn_session` and `wait_children` tools.
 *
 * @example
 * const spawner = request.spawner; // set when the scheduler runs the agent
 * if (spawner) {
 *   await spawner.spawnChild(session.id, { title: 'Research', prompt: 'Find X' });
 *   const [summary] = await spawner.waitForChildren(session.id);
 * }
 */
export interface Spawner {
  /** `scheduler.spawnChild`: creates a child of `parentSessionId` from a brief and queues its run. */
  spawnChild(
    parentSessionId: string,
    brief: {
      title: string;
      prompt: string;
      responsibility?: string | undefined;
      subagentType?: string | undefined;
      model?: string | undefined;
      onParentEnd?: 'cancel' | 'abandon' | undefined;
    },
  ): Promise<{ childSessionId: string; runId: string }>;
  /** `scheduler.waitForChildren`: from inside the run, the run gives its slot back while it waits. */
  waitForChildren(
    parentSessionId: string,
    options?: { policy?: 'all' | 'any' | 'first-error'; childSessionIds?: readonly string[] },
  ): Promise<{ childSessionId: string; runId: string; status: string; error?: string | undefined; result?: string | undefined }[]>;
}

/**
 * An agent loop. `execute` runs it on `session` (the job's working copy: append the messages the
 * agent produces to `session.messages`; the last assistant message is the run's answer), emits
 * events through `request.emit`, resolves on success and rejects on failure, and stops soon after
 * `request.signal` aborts.
 *
 * @example
 * const echo: AgentRuntime = {
 *   async execute(session, { emit }) {
 *     emit({ type: 'token', content: 'hi' });
 *     session.messages.push({ id: crypto.randomUUID(), role: 'assistant', content: 'hi', created_at: new Date().toISOString() });
 *   },
 * };
 */
export interface AgentRuntime {
  /** Runs the agent loop on `session`; resolves on success, rejects on failure. */
  execute(session: Session, request: ExecuteRequest): Promise<void>;
}

/** What {@link EventLog.read} returns. */
export interface EventLogReadResult {
  /** Retained envelopes with `seq > afterSeq`, oldest first. */
  envelopes: SessionEventEnvelope[];
  /** Smallest retained seq of the session (undefined when nothing is retained). */
  firstRetainedSeq: number | undefined;
  /** Last seq ever assigned for the session (0 when none). */
  lastSeq: number;
}

/**
 * A run the log saw announced (`sub_session_started` appended) and not yet ended
 * (`sub_session_completed` not appended): the run ledger that crash recovery is driven by.
 *
 * @example
 * const open: OpenRun = { runId: 'r1', parentSessionId: 'root', childSessionId: 'c1', startedSeq: 3 };
 */
export interface OpenRun {
  /** The run's id. */
  runId: string;
  /** The parent whose stream announced it. */
  parentSessionId: string;
  /** The child that runs. */
  childSessionId: string;
  /** The child's title, when the announcement carried one. */
  title?: string | undefined;
  /** Seq of the `sub_session_started` on the parent's stream. */
  startedSeq: number;
}

/**
 * What an {@link EventLog} declares about itself; the scheduler reads these instead of asking
 * which adapter it is.
 *
 * @example
 * const capabilities: EventLogCapabilities = { durable: true, runLedger: true, batched: true };
 */
export interface EventLogCapabilities {
  /** Appended events (and `seq`) survive a restart of the process. */
  readonly durable: boolean;
  /**
   * `openRuns` is implemented and written in the same write as the events (atomically), so crash
   * recovery can be driven by the runs opened and not closed. Only trusted when `durable` too.
   */
  readonly runLedger: boolean;
  /** Appends are grouped and written together (group commit); `flush` writes what is pending. */
  readonly batched?: boolean;
}

/**
 * The per-session event log behind `scheduler.events()`: assigns `seq` (1, 2, 3, … per session,
 * never repeated, also across restarts for a durable log) and retains a bounded tail for replay.
 *
 * Every method may answer at once or with a promise ({@link MaybePromise}). Sprout keeps each
 * session's order either way: live subscribers get envelopes in `seq` order once the log has
 * accepted them, never an event the log refused. A log may batch appends and write them later
 * (`batched`), as long as what it returned is readable at once and events are written in the order
 * they were appended (a run's completion is never durable before its events).
 *
 * @example
 * const log: EventLog = new MemoryEventLog({ retention: 1000 });
 * const envelope = await log.append('root', { type: 'token', content: 'hi' }); // { seq: 1, sessionId: 'root', event }
 */
export interface EventLog {
  /** What this log declares about itself. */
  readonly capabilities: EventLogCapabilities;
  /**
   * Assigns the next `seq` of the session to the event, retains it, and returns the envelope.
   * With `options.fence`, a log that can fence writes it only while the fence is still the run's
   * (else rejects with `RunFencedError`); other logs ignore it.
   */
  append(sessionId: string, event: AgentEvent, options?: WriteOptions): MaybePromise<SessionEventEnvelope>;
  /** The retained events of the session after `afterSeq`. */
  read(sessionId: string, afterSeq: number): MaybePromise<EventLogReadResult>;
  /**
   * Runs announced on this log and not yet completed, in the order they were announced on each
   * parent's stream (by `startedSeq`; the order across parents is the adapter's): the durable run ledger,
   * maintained by `append` in the same write as the events (`sub_session_started` opens a run,
   * its `sub_session_completed` closes it). Implemented when `capabilities.runLedger` is true.
   */
  openRuns?(): MaybePromise<OpenRun[]>;
  /** Writes appends still pending (a `batched` log). */
  flush?(): MaybePromise<void>;
  /**
   * A `batched` log whose `append` answers before the event is durable: a promise that settles
   * once every append made so far is committed, or `undefined` when nothing is pending. Sprout
   * delivers an envelope to live subscribers only after it (durable before delivered), so a seq a
   * subscriber saw never names another event after a crash.
   */
  committed?(): Promise<void> | undefined;
  /**
   * Forgets a deleted session's stream: its retained events and the open runs it announced or
   * that ran it. Its `seq` counter is kept, so a seq is never given to another event even if the
   * id comes back. Called by `scheduler.deleteSession` once the session's runs ended.
   */
  deleteSession?(sessionId: string): MaybePromise<void>;
  /** Flushes, then releases resources (closes files and connections). Idempotent. */
  close?(): MaybePromise<void>;
}
