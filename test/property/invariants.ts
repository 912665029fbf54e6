import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { SproutError, SproutValidationError } from '../../src/errors.js';
import type { SchedulerDiagnostic } from '../../src/api/scheduler-diagnostic.js';
import type { ChildRunSummary, ChildStatus, EnqueueResult } from '../../src/api/scheduler-types.js';
import type { ChaosAgent } from './chaos-agent.js';
import { InjectedStoreError, type FaultPlan } from './faulty-stores.js';
import { runIdOf, show, type CancelRequest, type Completion, type CompletionContext, type Seen, type Tracked } from './observation.js';
import type { Scenario } from './scenario.js';

/** Everything a case recorded, for {@link checkInvariants}. */
export interface Observed {
  scenario: Scenario;
  /**
   * True when the log commits in batches and subscribers get an envelope only once it is durable
   * (SQLite): a subscriber may then hear of a run's start after the run ended.
   */
  deliversWhenDurable: boolean;
  /** Live subscriber of each watched stream (subscribed with afterSeq 0 before start). */
  streams: ReadonlyMap<string, readonly SessionEventEnvelope[]>;
  /** A late subscriber's replay of each stream after the end. */
  replays: ReadonlyMap<string, readonly SessionEventEnvelope[]>;
  global: readonly Seen[];
  completionContexts: ReadonlyMap<string, CompletionContext>;
  agent: ChaosAgent;
  plan: FaultPlan;
  enqueues: readonly { childSessionId: string; tracked: Tracked<EnqueueResult> }[];
  spawns: readonly { parentSessionId: string; tracked: Tracked<{ childSessionId: string; runId: string }> }[];
  cancels: readonly Tracked<boolean>[];
  cancelTrees: readonly Tracked<number>[];
  cancelRequests: readonly CancelRequest[];
  cancelOnStart: readonly { childSessionId: string; runId?: string; tracked?: Tracked<boolean>; request?: CancelRequest }[];
  waits: readonly { parentSessionId: string; policy: string; tracked: Tracked<ChildRunSummary[]> }[];
  stops: readonly Tracked<void>[];
  stopRequestedAt: number | undefined;
  lateEnqueue: Tracked<EnqueueResult>;
  getChild: ReadonlyMap<string, Tracked<ChildStatus | undefined>>;
  finalWaits: ReadonlyMap<string, Tracked<ChildRunSummary[]>>;
  stored: ReadonlyMap<string, Session | undefined>;
  children: readonly string[];
  /** Parent of every known session (seeded and spawned); undefined for roots. */
  parentOf: ReadonlyMap<string, string | undefined>;
  unhandled: readonly unknown[];
  diagnostics: readonly SchedulerDiagnostic[];
  /** The case runs on SQLite (its event log must encode every event as JSON). */
  sqlite: boolean;
  /** Calls with bad input and how they ended. */
  badInputs: readonly { label: string; tracked: Tracked<unknown> }[];
}

/** The texts of loading failures, which write no metadata (docs/job-lifecycle.md.1). */
const isLoadingFailure = (completion: Completion): boolean =>
  completion.status === 'error' &&
  completion.error !== undefined &&
  (completion.error === 'child session not found' ||
    completion.error.startsWith('failed to load child session: ') ||
    completion.error === 'spawn job child session is not kind=child' ||
    / does not belong to parent /.test(completion.error));

/** A run whose final save failed (an injected store fault) ends `error` whatever ended it. */
const failedFinalSave = (completion: Completion): boolean =>
  completion.status === 'error' && completion.error?.startsWith('failed to save child session') === true;

interface RunView {
  runId: string;
  childSessionId: string;
  sessions: Set<string>;
  seen: Seen[];
  started: Seen[];
  completions: Seen[];
}

/** Groups the arrivals by run id. */
export function runsOf(global: readonly Seen[]): Map<string, RunView> {
  const runs = new Map<string, RunView>();
  for (const seen of global) {
    const runId = runIdOf(seen.envelope.event);
    if (runId === undefined) continue;
    const event = seen.envelope.event as { child_session_id: string };
    let run = runs.get(runId);
    if (!run) {
      run = { runId, childSessionId: event.child_session_id, sessions: new Set(), seen: [], started: [], completions: [] };
      runs.set(runId, run);
    }
    run.sessions.add(seen.sessionId);
    run.seen.push(seen);
    if (seen.envelope.event.type === 'sub_session_started') run.started.push(seen);
    if (seen.envelope.event.type === 'sub_session_completed') run.completions.push(seen);
  }
  return runs;
}

const completionOf = (run: RunView): Completion | undefined => {
  const event = run.completions[0]?.envelope.event;
  return event?.type === 'sub_session_completed' ? event : undefined;
};

/** seq is 1, 2, 3, … on a list of envelopes. */
function checkSeq(label: string, envelopes: readonly SessionEventEnvelope[], out: string[]): void {
  envelopes.forEach((envelope, i) => {
    if (envelope.seq !== i + 1 && out.length < 50) out.push(`${label}: seq ${envelope.seq} at position ${i + 1} (not contiguous from 1)`);
  });
}

/** Compares two streams as a subscriber sees them (undefined fields and JSON encoding aside). */
function sameStream(a: readonly SessionEventEnvelope[], b: readonly SessionEventEnvelope[]): boolean {
  return show(a) === show(b);
}

/** Every invariant of docs/job-lifecycle.md on one case; returns the violations. */
export function checkInvariants(o: Observed): string[] {
  const out: string[] = [];
  const { options } = o.scenario;
  const runs = runsOf(o.global);
  const touched = (id: string): boolean => o.plan.touched.has(id);
  const hungAny = o.plan.fired.some((f) => f.fault === 'hang');

  // Streams: seq contiguous, late replay equals live.
  for (const [id, live] of o.streams) {
    checkSeq(`stream ${id} (live)`, live, out);
    const replay = o.replays.get(id) ?? [];
    if (!sameStream(live, replay)) {
      out.push(
        `stream ${id}: a late replay (afterSeq 0, ${replay.length} events) differs from what a live subscriber saw (${live.length} events)`,
      );
    }
  }

  // Per run: one start first, one completion last, all on the parent's stream.
  for (const run of runs.values()) {
    const name = `run ${run.runId} of ${run.childSessionId}`;
    if (run.sessions.size !== 1) out.push(`${name}: events on several streams ${show([...run.sessions])}`);
    if (run.started.length !== 1) out.push(`${name}: ${run.started.length} sub_session_started`);
    else if (run.seen[0] !== run.started[0]) out.push(`${name}: ${run.seen[0]?.envelope.event.type} before sub_session_started`);
    if (run.completions.length !== 1) out.push(`${name}: ${run.completions.length} sub_session_completed`);
    else if (run.seen.at(-1) !== run.completions[0]) {
      const after = run.seen.slice(run.seen.indexOf(run.completions[0]!) + 1).map((s) => s.envelope.event.type);
      out.push(`${name}: ${show(after)} after its sub_session_completed`);
    }
    const completion = completionOf(run);
    if (!completion) continue;
    const parent = [...run.sessions][0];
    if (completion.parent_session_id !== parent)
      out.push(`${name}: completion names parent ${completion.parent_session_id} on stream ${parent}`);
    checkCompletion(o, run, completion, out);
  }

  // Limits, counted from the agent's side.
  if (o.agent.maxActive > options.concurrency)
    out.push(`concurrency ${options.concurrency} exceeded: ${o.agent.maxActive} execute() calls at once`);
  for (const [parent, max] of o.agent.maxActivePerParent) {
    if (max > options.perParentConcurrency)
      out.push(`perParentConcurrency ${options.perParentConcurrency} exceeded under ${parent}: ${max} at once`);
  }
  for (const call of o.agent.calls) {
    if (call.emitErrors.length > 0)
      out.push(`request.emit threw into the agent (${call.outcome.kind}): ${describeError(call.emitErrors[0])}`);
  }

  // API promises.
  for (const { childSessionId, tracked } of o.enqueues) {
    if (!tracked.settled) out.push(`enqueue(${childSessionId}) never settled`);
    else if (tracked.error !== undefined) {
      if (!(tracked.error instanceof SproutError))
        out.push(`enqueue(${childSessionId}) rejected with a raw error: ${describeError(tracked.error)}`);
    } else if (tracked.value) {
      const run = runs.get(tracked.value.runId);
      if (!run || run.childSessionId !== childSessionId)
        out.push(`enqueue(${childSessionId}) resolved ${show(tracked.value)} but no such run of that child was announced`);
    }
  }
  for (const { parentSessionId, tracked } of o.spawns) {
    if (!tracked.settled) {
      if (!hungAny) out.push(`spawnChild(${parentSessionId}) never settled (no store call hung)`);
    } else if (tracked.error !== undefined) {
      if (!(tracked.error instanceof SproutError) && !(tracked.error instanceof InjectedStoreError)) {
        out.push(`spawnChild(${parentSessionId}) rejected with a raw error: ${describeError(tracked.error)}`);
      }
    } else if (tracked.value) {
      const run = runs.get(tracked.value.runId);
      if (!run || run.childSessionId !== tracked.value.childSessionId)
        out.push(`spawnChild(${parentSessionId}) resolved ${show(tracked.value)} but that run was not announced`);
    }
  }
  o.cancels.forEach((tracked, i) => {
    if (!tracked.settled) out.push(`cancel #${i} never settled`);
    else if (tracked.error !== undefined) out.push(`cancel #${i} rejected: ${describeError(tracked.error)}`);
  });
  o.cancelTrees.forEach((tracked, i) => {
    if (!tracked.settled && !hungAny) out.push(`cancelTree #${i} never settled`);
    else if (tracked.error !== undefined && !(tracked.error instanceof SproutError) && !(tracked.error instanceof InjectedStoreError)) {
      out.push(`cancelTree #${i} rejected with a raw error: ${describeError(tracked.error)}`);
    }
  });
  for (const entry of o.cancelOnStart) {
    if (!entry.tracked || entry.runId === undefined) continue;
    // With durable delivery, a start reaches its subscriber after the commit: a run that ended
    // meanwhile (on its own, or cancelled under a halted ancestor) has nothing left to cancel.
    const endedFirst = o.deliversWhenDurable && entry.tracked.settled && entry.tracked.value === false;
    if ((!entry.tracked.settled || entry.tracked.value !== true) && !endedFirst) {
      out.push(
        `cancel(${entry.childSessionId}) from a sub_session_started subscriber returned ${show(entry.tracked.value)} (run ${entry.runId} was just queued)`,
      );
    }
    const completion = runs.get(entry.runId) && completionOf(runs.get(entry.runId)!);
    // The reason is checked with every other cancelled run (a stop or cancelTree requested while the
    // enqueue still waited for queue room may have claimed the run first).
    if (completion && !endedFirst && !failedFinalSave(completion) && completion.status !== 'cancelled') {
      out.push(
        `run ${entry.runId} cancelled from a sub_session_started subscriber ended ${completion.status}/${completion.reason} (${completion.error})`,
      );
    }
  }
  // A run cancelled while still queued (no heartbeat yet: running had not started) ends cancelled
  // (docs/job-lifecycle.md.5: decided by the cancel request), even if its load then fails. Only `skipped` is
  // let through: its outcome is decided by the load, and its save may be under way.
  for (const request of o.cancelRequests) {
    if (request.reason !== 'user') continue;
    if (request.answer?.value !== true) continue;
    const open = [...runs.values()].filter(
      (run) =>
        run.childSessionId === request.sessionId &&
        run.started[0] !== undefined &&
        run.started[0].index < request.at &&
        !(run.completions[0] && run.completions[0].index < request.at),
    );
    for (const run of open) {
      if (run.seen.some((s) => s.index < request.at && s.envelope.event.type === 'sub_session_heartbeat')) continue;
      const completion = completionOf(run);
      if (!completion || completion.status === 'cancelled' || completion.status === 'skipped' || failedFinalSave(completion)) continue;
      out.push(
        `run ${run.runId} of ${run.childSessionId} was cancelled while queued (cancel() returned true) but ended ${completion.status} (${completion.error ?? ''})`,
      );
    }
  }
  for (const { label, tracked } of o.badInputs) {
    if (!tracked.settled || !(tracked.error instanceof SproutValidationError)) {
      out.push(
        `${label}: expected a SproutValidationError, got ${tracked.settled ? (tracked.error === undefined ? 'success' : describeError(tracked.error)) : 'no answer'}`,
      );
    }
  }
  o.stops.forEach((tracked, i) => {
    if (!tracked.settled) out.push(`stop #${i} never resolved`);
    else if (tracked.error !== undefined) out.push(`stop #${i} rejected: ${describeError(tracked.error)}`);
  });
  if (!o.lateEnqueue.settled || !(o.lateEnqueue.error instanceof SproutError) || o.lateEnqueue.error.code !== 'SCHEDULER_STOPPED') {
    out.push(
      `enqueue after stop: expected SchedulerStoppedError, got ${o.lateEnqueue.settled ? describeError(o.lateEnqueue.error ?? o.lateEnqueue.value) : 'never settled'}`,
    );
  }

  const unknowable = (id: string): boolean => {
    if (touched(id)) return true;
    const ofChild = [...runs.values()].filter((run) => run.childSessionId === id && run.completions.length > 0);
    ofChild.sort((a, b) => a.completions[0]!.index - b.completions[0]!.index);
    const last = ofChild.at(-1);
    const completion = last && completionOf(last);
    return completion !== undefined && (isLoadingFailure(completion) || completion.parent_session_id !== o.parentOf.get(id));
  };

  // waitForChildren entries carry their pinned run's real outcome.
  const checkEntries = (label: string, entries: readonly ChildRunSummary[], mustHaveEnded: boolean): void => {
    for (const entry of entries) {
      const run = runs.get(entry.runId);
      const completion = run && completionOf(run);
      if (!completion || run.childSessionId !== entry.childSessionId) {
        if (mustHaveEnded || (entry.status !== 'queued' && entry.status !== 'running'))
          out.push(`${label}: entry ${show(entry)} names no ended run of that child`);
        continue;
      }
      if (entry.status === 'queued' || entry.status === 'running') {
        if (mustHaveEnded) out.push(`${label}: entry ${show(entry)} not ended`);
        continue;
      }
      if (entry.status !== completion.status || entry.error !== completion.error || entry.result !== completion.result) {
        out.push(`${label}: entry ${show(entry)} disagrees with its run's completion ${show(completion)}`);
      }
    }
  };
  for (const wait of o.waits) {
    const label = `waitForChildren(${wait.parentSessionId}, ${wait.policy})`;
    if (!wait.tracked.settled) out.push(`${label} never resolved`);
    else if (wait.tracked.error !== undefined) out.push(`${label} rejected: ${describeError(wait.tracked.error)}`);
    else checkEntries(label, wait.tracked.value ?? [], wait.policy === 'all');
  }
  for (const [parent, tracked] of o.finalWaits) {
    const label = `waitForChildren(${parent}) after stop`;
    // An evicted run (retainEndedRuns) whose child a store fault kept from its final metadata
    // cannot be known any more: the store is all there is. Those waits are not checked.
    // Likewise a child whose latest run wrote no metadata (failed loading, or queued under a
    // foreign parent; docs/job-lifecycle.md.1): F4 in the report, left unchecked.
    if (options.retainEndedRuns !== undefined && o.children.some((id) => o.stored.get(id)?.parent_session_id === parent && unknowable(id)))
      continue;
    if (!tracked.settled) out.push(`${label} never resolved`);
    else if (tracked.error !== undefined) out.push(`${label} rejected: ${describeError(tracked.error)}`);
    else checkEntries(label, tracked.value ?? [], true);
  }

  // Children: getChild and stored metadata agree with the latest completion.
  for (const id of o.children) {
    const completions = [...runs.values()]
      .filter((run) => run.childSessionId === id && run.completions.length > 0)
      .sort((a, b) => a.completions[0]!.index - b.completions[0]!.index)
      .map((run) => completionOf(run)!);
    const latest = completions.at(-1);
    const stored = o.stored.get(id);
    const meta = stored?.metadata;
    // Loading failures and runs queued under another parent (never loaded: ownership unchecked)
    // write no metadata (docs/job-lifecycle.md.1).
    const latestWritten = completions.filter((c) => !isLoadingFailure(c) && c.parent_session_id === o.parentOf.get(id)).at(-1);
    if (stored && !touched(id)) {
      if (meta?.last_run_status === 'running' || meta?.last_run_status === 'pending') {
        out.push(`child ${id} left last_run_status ${meta.last_run_status} after stop (run ${meta.last_run_id})`);
      } else if (latestWritten) {
        const expected = { last_run_status: latestWritten.status, last_run_id: latestWritten.run_id, last_run_error: latestWritten.error };
        const actual = { last_run_status: meta?.last_run_status, last_run_id: meta?.last_run_id, last_run_error: meta?.last_run_error };
        if (show(expected) !== show(actual))
          out.push(`child ${id}: metadata ${show(actual)} disagrees with its latest completion ${show(expected)}`);
      }
    }
    const child = o.getChild.get(id);
    if (!latest || !child || (options.retainEndedRuns !== undefined && unknowable(id))) continue;
    if (!child.settled || child.error !== undefined) {
      out.push(`getChild(${id}) ${child.settled ? `rejected: ${describeError(child.error)}` : 'never settled'}`);
      continue;
    }
    const got = child.value;
    const fromCompletion = { status: latest.status, runId: latest.run_id, error: latest.error, result: latest.result };
    const actual = { status: got?.status, runId: got?.runId, error: got?.error, result: got?.result };
    if (show(actual) === show(fromCompletion)) continue;
    // With a small retainEndedRuns the run may be evicted: then getChild reads the stored session.
    const fromStore = { status: meta?.last_run_status, runId: meta?.last_run_id, error: meta?.last_run_error };
    const evictable = options.retainEndedRuns !== undefined;
    if (evictable && show({ status: actual.status, runId: actual.runId, error: actual.error }) === show(fromStore)) continue;
    out.push(`getChild(${id}) ${show(actual)} disagrees with the latest completion ${show(fromCompletion)}`);
  }
  return out;
}

/** Status, reason, error texts and forwarding of one completed run. */
function checkCompletion(o: Observed, run: RunView, completion: Completion, out: string[]): void {
  const { options } = o.scenario;
  const name = `run ${run.runId} of ${run.childSessionId}`;
  const at = run.completions[0]!.index;
  // cancelTree reaches a run through the child's real ancestors, or through the parent its job
  // named (a queued run is the declared parent's until its load checks it).
  const ancestors = new Set<string>();
  for (const start of [run.childSessionId, completion.parent_session_id]) {
    if (start === completion.parent_session_id) ancestors.add(start);
    for (let p = o.parentOf.get(start), hops = 0; p !== undefined && hops < 10; p = o.parentOf.get(p), hops++) ancestors.add(p);
  }
  const requests = o.cancelRequests.filter(
    (r) => r.at <= at && (r.reason === 'user' ? r.sessionId === run.childSessionId : ancestors.has(r.sessionId)),
  );
  const stopped = o.stopRequestedAt !== undefined && o.stopRequestedAt <= at;
  if (completion.status === 'cancelled') {
    const allowed = new Set<string>(requests.map((r) => r.reason));
    if (stopped) allowed.add('shutdown');
    // A parent's end reaches its subtree (issue 18): a user's cancel of an ancestor, or an
    // ancestor's run that ended cancelled or in error before this run ended.
    // (Through the real ancestors, or the parent its job named and that one's ancestors.)
    const realAncestors = new Set<string>([completion.parent_session_id]);
    for (const start of [run.childSessionId, completion.parent_session_id]) {
      for (let p = o.parentOf.get(start), hops = 0; p !== undefined && hops < 10; p = o.parentOf.get(p), hops++) realAncestors.add(p);
    }
    const ancestorCancelled = o.cancelRequests.some((r) => r.at <= at && realAncestors.has(r.sessionId));
    const ancestorEnded = [...runsOf(o.global).values()].some((other) => {
      const end = completionOf(other);
      return (
        realAncestors.has(other.childSessionId) &&
        end !== undefined &&
        (end.status === 'error' || end.status === 'cancelled') &&
        other.completions[0]!.index <= at
      );
    });
    if (ancestorCancelled || ancestorEnded) allowed.add('parent');
    if (allowed.size === 0) out.push(`${name}: cancelled (${completion.reason}) but nobody cancelled it or stopped the scheduler`);
    else if (completion.reason === undefined || !allowed.has(completion.reason))
      out.push(`${name}: cancelled with reason ${completion.reason}, requested: ${show([...allowed])}`);
  } else if (
    completion.reason === 'user' ||
    completion.reason === 'parent' ||
    completion.reason === 'shutdown' ||
    completion.reason === 'deleted'
  ) {
    out.push(`${name}: status ${completion.status} with cancel reason ${completion.reason}`);
  }
  if (
    completion.reason === 'timeout' &&
    (options.maxRunMs === undefined || completion.error !== `child session timed out after ${options.maxRunMs} ms`)
  ) {
    out.push(`${name}: timeout completion ${show(completion)} with maxRunMs ${options.maxRunMs}`);
  }
  if (
    completion.reason === 'idle' &&
    (options.idleTimeoutMs === undefined || completion.error !== `child session idle for ${options.idleTimeoutMs} ms`)
  ) {
    out.push(`${name}: idle completion ${show(completion)} with idleTimeoutMs ${options.idleTimeoutMs}`);
  }
  if ((completion.reason === 'timeout' || completion.reason === 'idle') && completion.status !== 'error')
    out.push(`${name}: ${completion.reason} with status ${completion.status}`);
  if (completion.reason === 'interrupted') out.push(`${name}: reason interrupted without a restart`);
  if (completion.error?.includes('spawn job crashed') === true)
    out.push(`${name}: ended "${completion.error}" (nothing the case did may crash a job)`);
  if (completion.status === 'skipped' && completion.error !== 'No pending message to execute')
    out.push(`${name}: skipped with error ${show(completion.error)}`);
  if (completion.status === 'completed') {
    const call = o.completionContexts.get(run.runId)?.resolvedCall;
    if (!call) out.push(`${name}: completed but the agent never resolved for ${run.childSessionId}`);
    else {
      if (call.outcome.kind === 'invalid-event') out.push(`${name}: completed although the agent emitted an invalid event`);
      // Every event must be JSON (what every log and wire carries), on every backend.
      if (call.outcome.kind === 'unencodable-event') out.push(`${name}: completed although the agent emitted an event JSON cannot encode`);
      // The agent's own events (a child's stream also forwards what its children's runs publish on it).
      const forwarded = run.seen.filter(
        (s) => s.envelope.event.type === 'sub_session_event' && runIdOf(s.envelope.event.event) === undefined,
      ).length;
      const expected = call.emittedBeforeSettle + (call.outcome.kind === 'unencodable-event' ? 1 : 0);
      if (call.outcome.kind !== 'unencodable-event' && forwarded !== expected)
        out.push(`${name}: ${forwarded} sub_session_event forwarded, the agent emitted ${expected} before it resolved`);
      if (completion.result !== call.answer)
        out.push(`${name}: result ${show(completion.result)}, the agent answered ${show(call.answer)}`);
    }
  }
}

function describeError(error: unknown): string {
  try {
    return error instanceof Error ? `${error.name}: ${error.message}` : `non-Error ${show(error)}`;
  } catch {
    return Object.prototype.toString.call(error);
  }
}

/** What the restart check needs. */
export interface RestartObserved {
  /** Durable replay before the new scheduler started. */
  before: ReadonlyMap<string, readonly SessionEventEnvelope[]>;
  /** Replay plus everything recovery published. */
  after: ReadonlyMap<string, readonly SessionEventEnvelope[]>;
  started: Tracked<unknown>;
  /** Children still `running` / `pending` after recovery. */
  leftOpen: readonly string[];
}

/** After a clean stop and a restart on the same SQLite file: nothing to recover, nothing doubled. */
export function checkRestart(r: RestartObserved): string[] {
  const out: string[] = [];
  if (!r.started.settled || r.started.error !== undefined)
    out.push(`restart: start() ${r.started.settled ? `rejected: ${describeError(r.started.error)}` : 'never settled'}`);
  for (const [id, after] of r.after) {
    const before = r.before.get(id) ?? [];
    checkSeq(`restart: stream ${id}`, after, out);
    if (!sameStream(before, after.slice(0, before.length))) out.push(`restart: stream ${id} replays differently after start()`);
    const global = after.map((envelope, index) => ({ index, sessionId: id, envelope }));
    for (const run of runsOf(global).values()) {
      if (run.completions.length !== 1)
        out.push(`restart: run ${run.runId} of ${run.childSessionId} has ${run.completions.length} completions on ${id} after recovery`);
      if (run.started.length !== 1)
        out.push(`restart: run ${run.runId} of ${run.childSessionId} has ${run.started.length} sub_session_started on ${id}`);
    }
  }
  if (r.leftOpen.length > 0) out.push(`restart: children still running/pending after recovery: ${show(r.leftOpen)}`);
  return out;
}
