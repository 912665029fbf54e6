import { getShortestPaths } from 'xstate/graph';
import { spawnJobMachine } from '../../machines/spawn-job.machine.js';
import { childSession, ev, jobInput, message, start, sendAll, count, types } from './spawn-job.fixtures.js';
const events = [
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
  ev.heartbeatTick(),
  ev.maxRunElapsed(),
  ev.idleElapsed(),
] as any;
const paths = getShortestPaths(spawnJobMachine, { events, input: jobInput() });
for (const p of paths) {
  const evs = p.steps.slice(1).map(s => s.event);
  const first = start(jobInput());
  const r = sendAll(first.snapshot, evs as any);
  if (p.state.status === 'done' && count(r.actions, 'publishCompletion') === 0) console.log(JSON.stringify(p.state.value), evs.map(e => e.type + ((e as any).reason ?? '')), types(r.actions), JSON.stringify(p.state.context.cancelRequest));
}
