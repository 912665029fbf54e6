import { describe, expect, it } from 'vitest';
import { getMicrosteps, type AnyEventObject, type StateValue } from 'xstate';
import { getShortestPaths, getSimplePaths, getStateNodes } from 'xstate/graph';
import type { SpawnJobEvent, SpawnJobInput } from '../../machines/spawn-job.events.js';
import { spawnJobMachine, type SpawnJobMachine } from '../../machines/spawn-job.machine.js';
import { childSession, count, ev, jobInput, message, sendAll, start, toRunning, types, type JobSnapshot } from './spawn-job.fixtures.js';

/**
 * Every path through the job machine, generated with `xstate/graph`. Invoked actors and delays
 * never run during traversal, so their results are supplied explicitly as events.
 */
const allEvents: AnyEventObject[] = [
  ev.loaded(undefined),
  ev.loaded(childSession({ kind: 'root' })),
  ev.loaded(childSession({ parent_session_id: 'someone-else' })),
  ev.loaded(childSession({ messages: [message('user', 'q'), message('assistant', 'a')] })),
  ev.loaded(childSession()),
  ev.loadFailed('load boom'),
  ev.savedSkipped(),
  ev.saveSkippedFailed('skip boom'),
  ev.reserved(true),
  ev.reserved(false),
  ev.reserveFailed('reserve boom'),
  ev.savedRunning(),
  ev.saveRunningFailed('running boom'),
  ev.agentDone(),
  ev.agentFailed('agent boom'),
  ev.savedFinal(),
  ev.saveFinalFailed('final boom'),
  ev.cancel('user'),
  ev.timeout(),
  ev.abandon(),
  ev.discard(),
  ev.wait(),
  ev.resume(),
  ev.idleElapsed(),
];
const events = allEvents as unknown as SpawnJobEvent[];

const limitedInput = jobInput({ maxRunMs: 100, idleTimeoutMs: 50 });
const unlimitedInput = jobInput();
const queuedCancelInput = jobInput({}, { reason: 'parent' });

/** A state value as a string key (`'running'` or its JSON for compound values). */
const valueKey = (value: StateValue): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** Ids of the state nodes active in a state value (`spawnJob.running.heartbeat.beating` and its ancestors). */
function activeIds(value: StateValue, prefix = 'spawnJob'): string[] {
  if (typeof value === 'string') return [`${prefix}.${value}`];
  return Object.entries(value).flatMap(([key, child]) => [`${prefix}.${key}`, ...(child ? activeIds(child, `${prefix}.${key}`) : [])]);
}

/**
 * Traversal stops at final states: the pure `transition()` does not refuse events on a `done`
 * snapshot (the root-level `job.cancel` assign still runs), whereas a real actor has stopped.
 */
const stopWhen = (snapshot: JobSnapshot): boolean => snapshot.status !== 'active';

function shortest(input: SpawnJobInput, machine: SpawnJobMachine = spawnJobMachine) {
  return getShortestPaths(machine, { events, input, stopWhen });
}

/** The events of a generated path (`xstate/graph` puts an `xstate.init` step first). */
function eventsOf(path: { steps: { event: SpawnJobEvent }[] }): AnyEventObject[] {
  const all = path.steps.map((step) => step.event as AnyEventObject);
  expect(all[0]?.type).toBe('xstate.init');
  return all.slice(1);
}

/** Replays a path with the pure `transition()` and returns every action it produced. */
function replay(path: { steps: { event: SpawnJobEvent }[] }, input: SpawnJobInput, machine: SpawnJobMachine = spawnJobMachine) {
  const first = start(input, machine);
  const run = sendAll(first.snapshot, eventsOf(path), machine);
  return { ...run, allActions: [...first.actions, ...run.allActions] };
}

/** Asserts the completion rule on one path: exactly one completion, last, for every final state but `duplicate`. */
function checkCompletion(
  path: { state: JobSnapshot; steps: { event: SpawnJobEvent }[] },
  input: SpawnJobInput,
  machine?: SpawnJobMachine,
): void {
  const run = replay(path, input, machine);
  expect(run.snapshot.value).toEqual(path.state.value);
  const completions = count(run.allActions, 'publishCompletion');
  if (path.state.status !== 'done') {
    expect(completions).toBe(0);
    return;
  }
  if (path.state.value === 'duplicate') {
    expect(completions).toBe(0);
    expect(count(run.allActions, 'reportDuplicate')).toBe(1);
    return;
  }
  if (path.state.value === 'discarded') {
    expect(completions).toBe(0);
    return;
  }
  expect(completions).toBe(1);
  expect(types(run.actions)).toContain('publishCompletion');
  expect(types(run.allActions).at(-1)).toBe('publishCompletion');
  // Nothing of the run follows the completion: a run that ran was closed (off the heartbeat wheel) first.
  const seen = types(run.allActions);
  if (seen.includes('openRun')) expect(seen.lastIndexOf('closeRun')).toBeLessThan(seen.indexOf('publishCompletion'));
  expect(run.snapshot.output?.status).toBe(path.state.value);
}

describe('spawn-job machine: generated paths', () => {
  const limitedPaths = shortest(limitedInput);
  const unlimitedPaths = shortest(unlimitedInput);
  const busyMachine = spawnJobMachine.provide({ guards: { isIdle: () => false } });
  const busyPaths = shortest(limitedInput, busyMachine);
  const queuedCancelPaths = shortest(queuedCancelInput);

  it('reaches every state node (transient `checking` nodes are passed through, never rested in)', () => {
    const reached = new Set<string>();
    for (const path of [...limitedPaths, ...unlimitedPaths]) for (const id of activeIds(path.state.value)) reached.add(id);

    const all = getStateNodes(spawnJobMachine.root).map((node) => node.id);
    const transient = all.filter((id) => id.endsWith('.checking'));
    expect(transient.sort()).toEqual(['spawnJob.running.idleWatch.checking']);
    for (const id of all.filter((node) => !transient.includes(node))) expect(reached, id).toContain(id);
    expect([...reached].sort()).toEqual(all.filter((node) => !transient.includes(node)).sort());

    // The transient nodes do appear in the microsteps of entering `running`.
    const marking = sendAll(start(limitedInput).snapshot, [ev.loaded(childSession()), ev.reserved(true)]).snapshot;
    const micro = getMicrosteps(spawnJobMachine, marking, ev.savedRunning() as unknown as SpawnJobEvent);
    const microIds = new Set(micro.flatMap(([snapshot]) => activeIds(snapshot.value)));
    for (const id of transient) expect(microIds).toContain(id);
  });

  it('reaches every final status, each by a short path', () => {
    const finals = new Map<string, number>();
    for (const path of limitedPaths) {
      if (path.state.status !== 'done') continue;
      const key = valueKey(path.state.value);
      finals.set(key, Math.min(finals.get(key) ?? Infinity, eventsOf(path).length));
    }
    expect([...finals.keys()].sort()).toEqual(['cancelled', 'completed', 'discarded', 'duplicate', 'error', 'skipped']);
    expect(finals.get('error')).toBe(1);
    expect(finals.get('skipped')).toBe(2);
    expect(finals.get('duplicate')).toBe(2);
    expect(finals.get('cancelled')).toBe(2); // cancel, then the grace runs out (abandon) while loading
    expect(finals.get('discarded')).toBe(1);
    expect(finals.get('completed')).toBe(5);
  });

  it('every error cause and cancel reason is reachable (limits on)', () => {
    const outputs = limitedPaths
      .filter((path) => path.state.status === 'done')
      .map((path) => path.state.output as { code?: string; reason?: string } | undefined);
    const codes = new Set(outputs.map((output) => output?.code).filter((code) => code !== undefined));
    expect([...codes]).toEqual(
      expect.arrayContaining([
        'AGENT_FAILED',
        'CHILD_LOAD_FAILED',
        'CHILD_NOT_FOUND',
        'CHILD_NOT_KIND_CHILD',
        'CHILD_WRONG_PARENT',
        'RUN_IDLE',
        'RUN_TIMEOUT',
        'STORE_SAVE_FAILED',
      ]),
    );
    const reasons = new Set(outputs.map((output) => output?.reason).filter((reason) => reason !== undefined));
    expect([...reasons].sort()).toEqual(['idle', 'timeout', 'user']);
  });

  it.each([
    ['limits on', limitedPaths, limitedInput, undefined],
    ['no limits', unlimitedPaths, unlimitedInput, undefined],
    ['agent never idle', busyPaths, limitedInput, busyMachine],
    ['cancelled while queued', queuedCancelPaths, queuedCancelInput, undefined],
  ] as const)('shortest paths (%s): exactly one completion per run, last, none for duplicate', (_name, paths, input, machine) => {
    expect(paths.length).toBeGreaterThan(5);
    for (const path of paths) checkCompletion(path, input, machine);
  });

  it('with an agent that is never idle, the idle limit never ends the run', () => {
    const codes = busyPaths.map((path) => (path.state.output as { code?: string } | undefined)?.code);
    expect(codes).not.toContain('RUN_IDLE');
    expect(codes).toContain('RUN_TIMEOUT');
  });

  it('a run cancelled while queued never starts the agent and never ends skipped or completed', () => {
    const finals = new Set(queuedCancelPaths.filter((path) => path.state.status === 'done').map((path) => valueKey(path.state.value)));
    expect([...finals].sort()).toEqual(['cancelled', 'discarded', 'duplicate', 'error']);
    for (const path of queuedCancelPaths) expect(path.state.matches('running')).toBe(false);
  });

  it('simple paths: every one obeys the completion rule too', () => {
    const paths = getSimplePaths(spawnJobMachine, { events, input: limitedInput, stopWhen });
    expect(paths.length).toBeGreaterThan(limitedPaths.length);
    for (const path of paths) checkCompletion(path, limitedInput);
  });

  it('a path through the idle re-arm loop still ends with one completion', () => {
    const run = toRunning(limitedInput, childSession(), busyMachine);
    const after = sendAll(
      run.snapshot,
      [ev.idleElapsed(), ev.idleElapsed(), ev.cancel('user'), ev.idleElapsed(), ev.savedFinal()],
      busyMachine,
    );
    expect(after.snapshot.value).toBe('cancelled');
    expect(count(after.allActions, 'closeRun')).toBe(1);
    expect(count(after.allActions, 'publishCompletion')).toBe(1);
  });
});
