import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';
import type { Session } from '../../machines/session.schema.js';
import { createSpawnScheduler, type SpawnScheduler } from '../../src/create-spawn-scheduler.js';
import type { SchedulerDiagnostic } from '../../src/api/scheduler-diagnostic.js';
import type { ChildRunSummary, ChildStatus, EnqueueResult } from '../../src/api/scheduler-types.js';
import { SqliteSessionStore } from '../../src/adapters/sqlite/sqlite-session-store.js';
import type { SessionStore } from '../../src/api/ports.js';
import { advance, createTestClock, flushMicrotasks, runUntil, type TestClock } from '../../src/testing/simulated-clock.js';
import { ChaosAgent } from './chaos-agent.js';
import { FaultPlan, FaultyMemoryStore, FaultySqliteStore } from './faulty-stores.js';
import { checkInvariants, checkRestart, type Observed } from './invariants.js';
import { attempt, track, type CancelRequest, type CompletionContext, type Seen, type Tracked } from './observation.js';
import { GENERATED_PROTO_IDS, UNKNOWN_IDS, type Scenario } from './scenario.js';

/** Bad input for the public API (issue 9 item 16): each must fail with a SproutValidationError. */
const BAD_INPUTS: readonly (readonly [string, (scheduler: SpawnScheduler, parent: string) => unknown])[] = (() => {
  const loose = (scheduler: SpawnScheduler): Record<string, (...args: unknown[]) => unknown> =>
    scheduler as unknown as Record<string, (...args: unknown[]) => unknown>;
  const call =
    (name: string, ...args: unknown[]) =>
    (scheduler: SpawnScheduler): unknown =>
      loose(scheduler)[name]!.apply(scheduler, args);
  return [
    ['events(id, null)', (s, p) => call('events', p, null)(s)],
    ['events(id, { afterSeq: -1 })', (s, p) => call('events', p, { afterSeq: -1 })(s)],
    ['events(42)', call('events', 42)],
    ['waitForChildren(id, null)', (s, p) => call('waitForChildren', p, null)(s)],
    ['cancelTree(42)', call('cancelTree', 42)],
    ['getChild([])', call('getChild', [])],
    ['deleteSession({})', call('deleteSession', {})],
    ['cancel(42)', call('cancel', 42)],
    ["cancel(id, 'bogus')", (s, p) => call('cancel', p, 'bogus')(s)],
    ['enqueue(null)', call('enqueue', null)],
    ['enqueue({ parentSessionId: 1 })', call('enqueue', { parentSessionId: 1 })],
    ['spawnChild(id, { title: 5 })', (s, p) => call('spawnChild', p, { title: 5 })(s)],
    ['spawnChild(null, brief)', call('spawnChild', null, { title: 't', prompt: 'p' })],
  ] as const;
})();

/** Which store a scenario runs on. */
export type Backend = 'memory' | 'sqlite';

const T0 = '2026-01-01T00:00:00.000Z';

/** The seeded sessions of a scenario as stored sessions. */
export function seedSessions(scenario: Scenario): Session[] {
  const built: Session[] = [];
  for (const seeded of scenario.sessions) {
    const parent = seeded.parent === undefined ? undefined : built[seeded.parent];
    const messages: Session['messages'] = [
      { id: `${seeded.id}-s`, role: 'system', content: 'You are a sub-agent', created_at: T0 },
      { id: `${seeded.id}-u`, role: 'user', content: `Do ${seeded.id}`, created_at: T0 },
    ];
    if (!seeded.pending) messages.push({ id: `${seeded.id}-a`, role: 'assistant', content: 'already answered', created_at: T0 });
    built.push({
      id: seeded.id,
      title: `Session ${seeded.id}`,
      kind: parent ? 'child' : 'root',
      ...(parent ? { parent_session_id: parent.id } : {}),
      root_session_id: parent ? parent.root_session_id : seeded.id,
      spawn_depth: parent ? parent.spawn_depth + 1 : 0,
      model: 'test-model',
      messages: parent ? messages : messages.slice(1),
      metadata: {},
      created_at: T0,
      updated_at: T0,
    });
  }
  return built;
}

/** Moves the simulated clock until `done()` or `maxMs` passed; returns whether `done()` held. */
async function driveUntil(clock: TestClock, done: () => boolean, maxMs: number, stepMs: number): Promise<boolean> {
  try {
    await runUntil(done, { clock, maxMs, stepMs, rounds: 4 });
    return true;
  } catch {
    return done();
  }
}

/** Everything one case recorded. */
interface Recorder extends Observed {
  scheduler: SpawnScheduler;
}

/**
 * Runs one scenario against a fresh scheduler on the simulated clock and returns the invariant
 * violations (empty when every invariant of docs/job-lifecycle.md held).
 */
export async function runScenario(scenario: Scenario, backend: Backend): Promise<string[]> {
  const dir = backend === 'sqlite' ? mkdtempSync(join(tmpdir(), 'sprout-prop-')) : undefined;
  const path = dir === undefined ? undefined : join(dir, 'sprout.db');
  const plan = new FaultPlan(scenario.storeFaults, scenario.startGarbage);
  const store: SessionStore & { close?: () => void } = path === undefined ? new FaultyMemoryStore(plan) : new FaultySqliteStore(path, plan);
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  process.on('uncaughtException', onUnhandled);
  try {
    const violations = await runOn(scenario, store, plan, unhandled);
    if (path !== undefined) {
      store.close?.();
      violations.push(...(await restartOn(path, observedIds(scenario))));
    }
    await flushMicrotasks(4);
    violations.push(...unhandled.map((reason) => `unhandled rejection / uncaught exception: ${describe(reason)}`));
    return violations;
  } finally {
    process.off('unhandledRejection', onUnhandled);
    process.off('uncaughtException', onUnhandled);
    try {
      store.close?.();
    } catch {
      // closed already
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

function describe(reason: unknown): string {
  try {
    return reason instanceof Error ? `${reason.name}: ${reason.message}` : String(reason);
  } catch {
    return Object.prototype.toString.call(reason);
  }
}

/** Streams the test watches: every seeded session and the unknown ids. */
function observedIds(scenario: Scenario): string[] {
  return [...scenario.sessions.map((s) => s.id), ...UNKNOWN_IDS];
}

async function runOn(scenario: Scenario, store: SessionStore, plan: FaultPlan, unhandled: unknown[]): Promise<string[]> {
  const clock = createTestClock({ now: Date.UTC(2026, 0, 1) });
  const seeded = seedSessions(scenario);
  for (const session of seeded) await store.save(structuredClone(session));
  const agent = new ChaosAgent(clock, scenario.agent);
  let ids = 0;
  const fresh = [...GENERATED_PROTO_IDS];
  const createId = (): string => fresh.shift() ?? `id-${++ids}`;
  const { options } = scenario;
  const diagnostics: SchedulerDiagnostic[] = [];
  let scheduler: SpawnScheduler;
  try {
    scheduler = makeScheduler();
  } catch (error) {
    return [`createSpawnScheduler threw: ${describe(error)}`];
  }
  function makeScheduler(): SpawnScheduler {
    return createSpawnScheduler({
      store,
      agent,
      clock,
      createId,
      concurrency: options.concurrency,
      perParentConcurrency: options.perParentConcurrency,
      queueCapacity: options.queueCapacity,
      heartbeatIntervalMs: options.heartbeatIntervalMs,
      eventRetention: 1_000_000,
      ...(options.maxRunMs === undefined ? {} : { maxRunMs: options.maxRunMs }),
      ...(options.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: options.idleTimeoutMs }),
      ...(options.retainEndedRuns === undefined ? {} : { retainEndedRuns: options.retainEndedRuns }),
      onDiagnostic: (diagnostic) => diagnostics.push(diagnostic),
      ...(options.throwingObservers
        ? {
            // Throws on everything but actor creation (a throw there is reported on its own: F11).
            inspect: (event: { type: string }) => {
              if (event.type !== '@xstate.actor') throw new Error('inspection observer throws');
            },
          }
        : {}),
    });
  }
  if (options.throwingObservers) {
    scheduler.diagnostics$.subscribe(() => {
      throw new Error('diagnostics$ subscriber throws');
    });
  }

  const streams = new Map<string, SessionEventEnvelope[]>();
  const global: Seen[] = [];
  const completionContexts = new Map<string, CompletionContext>();
  const now = (): number => global.length;
  const watch = (sessionId: string): void => {
    if (streams.has(sessionId)) return;
    const list: SessionEventEnvelope[] = [];
    streams.set(sessionId, list);
    scheduler.events(sessionId, { afterSeq: 0 }).subscribe((envelope) => {
      list.push(envelope);
      const seen = { index: global.length, sessionId, envelope };
      global.push(seen);
      const { event } = envelope;
      if (event.type === 'sub_session_completed') {
        const resolvedCall = agent.calls.filter((c) => c.sessionId === event.child_session_id && c.settled === 'resolved').at(-1);
        completionContexts.set(event.run_id, { seen, resolvedCall });
      }
    });
  };
  for (const id of observedIds(scenario)) watch(id);

  // The model's view of the session tree (seeded plus spawned), for cancelTree's descendants.
  const parentOf = new Map<string, string | undefined>(seeded.map((s) => [s.id, s.parent_session_id]));
  const spawnedIds: string[] = [];
  const enqueues: { childSessionId: string; tracked: Tracked<EnqueueResult> }[] = [];
  const spawns: { parentSessionId: string; tracked: Tracked<{ childSessionId: string; runId: string }> }[] = [];
  const cancels: Tracked<boolean>[] = [];
  const cancelTrees: Tracked<number>[] = [];
  const cancelRequests: CancelRequest[] = [];
  const cancelOnStart: { childSessionId: string; runId?: string; tracked?: Tracked<boolean>; request?: CancelRequest }[] = [];
  const waits: { parentSessionId: string; policy: string; tracked: Tracked<ChildRunSummary[]> }[] = [];
  const stops: Tracked<void>[] = [];
  const badInputs: { label: string; tracked: Tracked<unknown> }[] = [];
  let stopRequestedAt: number | undefined;

  const n = seeded.length;
  const seededChildren = seeded.filter((s) => s.kind === 'child');
  const seededRoots = seeded.filter((s) => s.kind === 'root');
  const session = (ref: number): Session => seeded[ref % n]!;
  const child = (ref: number): Session => seededChildren[ref % seededChildren.length]!;
  const parentId = (s: Session): string => s.parent_session_id ?? s.id;
  const learnSpawned = (): void => {
    for (const spawn of spawns) {
      const value = spawn.tracked.value;
      if (value && !parentOf.has(value.childSessionId)) {
        parentOf.set(value.childSessionId, spawn.parentSessionId);
        spawnedIds.push(value.childSessionId);
      }
    }
  };
  const enqueue = (parentSessionId: string, childSessionId: string): void => {
    enqueues.push({
      childSessionId,
      tracked: track(
        attempt(() => scheduler.enqueue({ parentSessionId, childSessionId, model: 'test-model' })),
        now,
      ),
    });
  };

  plan.armed = true;
  const started = track(
    attempt(() => scheduler.start()),
    now,
  );
  const violations: string[] = [];
  if (!(await driveUntil(clock, () => started.settled, 60_000, 5000))) violations.push('start() did not settle');
  else if (started.error !== undefined) violations.push(`start() rejected: ${describe(started.error)}`);

  for (const command of scenario.commands) {
    switch (command.op) {
      case 'enqueue': {
        const s = child(command.session);
        enqueue(parentId(s), s.id);
        break;
      }
      case 'enqueue-root': {
        const s = seededRoots[command.session % seededRoots.length]!;
        enqueue(s.id, s.id);
        break;
      }
      case 'enqueue-unknown':
        enqueue(parentId(session(command.parent)), UNKNOWN_IDS[command.unknown % UNKNOWN_IDS.length]!);
        break;
      case 'enqueue-wrong-parent':
        enqueue(session(command.parent).id, child(command.session).id);
        break;
      case 'spawn': {
        const parentSessionId = session(command.parent).id;
        const tracked = track(
          attempt(() => scheduler.spawnChild(parentSessionId, { title: 'spawned', prompt: 'go' })),
          now,
        );
        spawns.push({ parentSessionId, tracked });
        break;
      }
      case 'cancel': {
        const target =
          command.spawned && spawnedIds.length > 0 ? spawnedIds[command.session % spawnedIds.length]! : child(command.session).id;
        const request: CancelRequest = { sessionId: target, reason: 'user', at: now() };
        cancelRequests.push(request);
        request.answer = track(
          attempt(() => scheduler.cancel(target)),
          now,
        );
        cancels.push(request.answer);
        break;
      }
      case 'cancel-tree': {
        const target = session(command.parent).id;
        cancelRequests.push({ sessionId: target, reason: 'parent', at: now() });
        cancelTrees.push(
          track(
            attempt(() => scheduler.cancelTree(target)),
            now,
          ),
        );
        break;
      }
      case 'cancel-on-start': {
        const s = child(command.session);
        const entry: { childSessionId: string; runId?: string; tracked?: Tracked<boolean>; request?: CancelRequest } = {
          childSessionId: s.id,
        };
        cancelOnStart.push(entry);
        const subscription = scheduler.events(parentId(s)).subscribe(({ event }) => {
          if (entry.tracked || event.type !== 'sub_session_started' || event.child_session_id !== s.id) return;
          entry.runId = event.run_id;
          const request: CancelRequest = { sessionId: s.id, reason: 'user', at: now() };
          cancelRequests.push(request);
          entry.tracked = track(
            attempt(() => scheduler.cancel(s.id)),
            now,
          );
          request.answer = entry.tracked;
          entry.request = request;
          queueMicrotask(() => subscription.unsubscribe());
        });
        break;
      }
      case 'wait': {
        const parentSessionId = session(command.parent).id;
        waits.push({
          parentSessionId,
          policy: command.policy,
          tracked: track(
            attempt(() => scheduler.waitForChildren(parentSessionId, { policy: command.policy })),
            now,
          ),
        });
        break;
      }
      case 'throwing-subscriber': {
        const id = session(command.session).id;
        scheduler.events(id).subscribe(() => {
          throw new Error('live subscriber throws');
        });
        scheduler.events(id, { afterSeq: 0 }).subscribe(() => {
          throw new Error('replaying subscriber throws');
        });
        break;
      }
      case 'bad-input': {
        const [label, call] = BAD_INPUTS[command.call % BAD_INPUTS.length]!;
        badInputs.push({
          label,
          tracked: track(
            attempt(() => Promise.resolve(call(scheduler, parentId(child(0))))),
            now,
          ),
        });
        break;
      }
      case 'stop':
        stopRequestedAt ??= now();
        stops.push(
          track(
            attempt(() => scheduler.stop({ mode: command.mode })),
            now,
          ),
        );
        break;
      case 'advance':
        await advance(clock, command.ms, { rounds: 4 });
        break;
      case 'flush':
        await flushMicrotasks(4);
        break;
    }
    await flushMicrotasks(2);
    learnSpawned();
  }

  // Let what can finish finish, then stop everything.
  const runIds = (): { started: Set<string>; completed: Set<string> } => {
    const startedRuns = new Set<string>();
    const completedRuns = new Set<string>();
    for (const { envelope } of global) {
      if (envelope.event.type === 'sub_session_started') startedRuns.add(envelope.event.run_id);
      if (envelope.event.type === 'sub_session_completed') completedRuns.add(envelope.event.run_id);
    }
    return { started: startedRuns, completed: completedRuns };
  };
  const quiet = (): boolean => {
    const { started: s, completed: c } = runIds();
    return [...s].every((id) => c.has(id)) && enqueues.every((e) => e.tracked.settled);
  };
  const hangingAgent = scenario.agent.some((o) => o.kind === 'hang');
  const quietReached = await driveUntil(clock, quiet, hangingAgent ? 60_000 : 600_000, 5000);
  // Liveness: with no agent or store call that hangs, every run ends without a stop.
  const canHang = hangingAgent || plan.fired.some((f) => f.fault === 'hang');
  if (!quietReached && !canHang) {
    const { started: s, completed: c } = runIds();
    const open = [...s].filter((id) => !c.has(id));
    violations.push(
      `runs still open after 600 s of simulated time with no hanging agent or store: ${open.slice(0, 5).join(', ')}${enqueues.some((e) => !e.tracked.settled) ? ' (and enqueue() calls not settled)' : ''}`,
    );
  }
  stopRequestedAt ??= now();
  const finalStop = track(
    attempt(() => scheduler.stop({ mode: 'cancel' })),
    now,
  );
  stops.push(finalStop);
  if (!(await driveUntil(clock, () => finalStop.settled, 600_000, 10_000))) {
    violations.push('stop({ mode: "cancel" }) did not resolve within 600 s of simulated time');
  }
  const atStop = global.length;
  const { started: startedAtStop, completed: completedAtStop } = runIds();
  if (finalStop.settled) {
    for (const runId of startedAtStop)
      if (!completedAtStop.has(runId)) violations.push(`stop() resolved before run ${runId} published its completion`);
  }
  // Heartbeats and everything else stop: nothing more arrives while time passes.
  await advance(clock, 3 * options.heartbeatIntervalMs + 30_000, { rounds: 4 });
  const after = global.slice(atStop);
  if (finalStop.settled && after.length > 0) {
    violations.push(
      `${after.length} event(s) after stop() resolved: ${after
        .slice(0, 3)
        .map((s) => `${s.sessionId}#${s.envelope.seq} ${s.envelope.event.type}`)
        .join(', ')}`,
    );
  }
  const lateEnqueue = track(
    attempt(() => scheduler.enqueue({ parentSessionId: seeded[0]!.id, childSessionId: seeded.at(-1)!.id, model: 'm' })),
    now,
  );
  await flushMicrotasks(4);

  // Queries after the end, against what the streams said.
  learnSpawned();
  plan.armed = false;
  const children = [...parentOf.keys()].filter((id) => parentOf.get(id) !== undefined);
  const getChild = new Map<string, Tracked<ChildStatus | undefined>>();
  for (const id of children)
    getChild.set(
      id,
      track(
        attempt(() => scheduler.getChild(id)),
        now,
      ),
    );
  const finalWaits = new Map<string, Tracked<ChildRunSummary[]>>();
  for (const parent of new Set(children.map((id) => parentOf.get(id)!))) {
    const ofParent = children.filter(
      (id) =>
        parentOf.get(id) === parent &&
        global.some((s) => s.envelope.event.type === 'sub_session_started' && s.envelope.event.child_session_id === id),
    );
    if (ofParent.length > 0)
      finalWaits.set(
        parent,
        track(
          attempt(() => scheduler.waitForChildren(parent, { childSessionIds: ofParent })),
          now,
        ),
      );
  }
  const stored = new Map<string, Session | undefined>();
  for (const id of children) {
    try {
      stored.set(id, await store.load(id));
    } catch {
      stored.set(id, undefined);
    }
  }
  await flushMicrotasks(6);
  const replays = new Map<string, SessionEventEnvelope[]>();
  for (const id of streams.keys()) {
    const list: SessionEventEnvelope[] = [];
    scheduler
      .events(id, { afterSeq: 0 })
      .subscribe((envelope) => list.push(envelope))
      .unsubscribe();
    replays.set(id, list);
  }

  const observed: Recorder = {
    scheduler,
    scenario,
    deliversWhenDurable: store instanceof FaultySqliteStore,
    streams,
    replays,
    global,
    completionContexts,
    agent,
    plan,
    enqueues,
    spawns,
    cancels,
    cancelTrees,
    cancelRequests,
    cancelOnStart,
    waits,
    stops,
    stopRequestedAt,
    lateEnqueue,
    getChild,
    finalWaits,
    stored,
    children,
    parentOf,
    unhandled,
    diagnostics,
    sqlite: store instanceof SqliteSessionStore,
    badInputs,
  };
  violations.push(...checkInvariants(observed));
  return violations;
}

/** Reopens the SQLite file in a new scheduler, runs recovery, and checks the durable streams. */
async function restartOn(path: string, streamIds: readonly string[]): Promise<string[]> {
  const store = new SqliteSessionStore(path);
  try {
    const before = new Map<string, SessionEventEnvelope[]>();
    const clock = createTestClock({ now: Date.UTC(2026, 0, 2) });
    const agent = new ChaosAgent(clock, [{ kind: 'complete', events: 0, waitMs: 0 }]);
    const scheduler = createSpawnScheduler({ store, agent, clock, eventRetention: 1_000_000 });
    for (const id of streamIds) {
      const list: SessionEventEnvelope[] = [];
      scheduler
        .events(id, { afterSeq: 0 })
        .subscribe((envelope) => list.push(envelope))
        .unsubscribe();
      before.set(id, list);
    }
    const after = new Map<string, SessionEventEnvelope[]>();
    for (const id of streamIds) {
      const list: SessionEventEnvelope[] = [];
      after.set(id, list);
      scheduler.events(id, { afterSeq: 0 }).subscribe((envelope) => list.push(envelope));
    }
    const started = track(
      attempt(() => scheduler.start()),
      () => 0,
    );
    await driveUntil(clock, () => started.settled, 60_000, 5000);
    const leftOpen = await store.listByRunStatus(['running', 'pending']);
    const stopped = track(
      attempt(() => scheduler.stop({ mode: 'cancel' })),
      () => 0,
    );
    await driveUntil(clock, () => stopped.settled, 600_000, 10_000);
    return checkRestart({ before, after, started, leftOpen: leftOpen.map((s) => s.id) });
  } finally {
    store.close();
  }
}
