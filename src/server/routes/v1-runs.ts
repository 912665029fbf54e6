import { Hono } from 'hono';
import { map, merge, NEVER, of } from 'rxjs';
import { schedulerMachine } from '../../../machines/scheduler.machine.js';
import { spawnJobMachine } from '../../../machines/spawn-job.machine.js';
import { toMachineGraph, type MachineGraph } from '../machine-graph.js';
import type { ServerContext } from '../server-context.js';
import { streamSse } from '../sse-node.js';
import { encodeFrame } from '../sse-stream.js';
import { isRunQuery, queryRuns } from './v1-run-index.js';

let graphs: { job: MachineGraph; scheduler: MachineGraph } | undefined;

/**
 * What the dashboard reads besides sessions and events: `GET /v1/machines` (the job and
 * scheduler machines' states and transitions, from their definitions), `GET /v1/runs` (live
 * job-machine state of each run; with any run-query parameter — `status`, `root`, `limit`, … —
 * a page of the run index instead, see `runIndexRoutes`) and `GET /v1/runs/stream` (SSE: a `runs` snapshot, then one
 * `run` event per state change). Without a run-state tracker the run lists are empty and the
 * dashboard derives states from the event stream.
 *
 * @example
 * app.route('/v1', runRoutes(context));
 */
export function runRoutes(ctx: ServerContext): Hono {
  const app = new Hono();
  const tracker = ctx.options.runStates;
  app.get('/machines', (c) => {
    graphs ??= { job: toMachineGraph(spawnJobMachine), scheduler: toMachineGraph(schedulerMachine) };
    return c.json({ ...graphs, tracked: tracker !== undefined });
  });
  app.get('/runs', async (c) =>
    isRunQuery(c)
      ? c.json(await queryRuns(ctx, c))
      : c.json({ tracked: tracker !== undefined, ...(tracker?.snapshot() ?? { scheduler: [], runs: [] }) }),
  );
  app.get('/runs/stream', (c) => {
    const snapshot = { tracked: tracker !== undefined, ...(tracker?.snapshot() ?? { scheduler: [], runs: [] }) };
    const source = merge(
      of(encodeFrame(`event: runs\ndata: ${JSON.stringify(snapshot)}\n\n`)),
      (tracker?.changes$ ?? NEVER).pipe(map((run) => encodeFrame(`event: run\ndata: ${JSON.stringify(run)}\n\n`))),
    );
    return streamSse(
      c,
      { source, frame: (bytes) => bytes, comment: 'ping', pingMs: ctx.options.pingIntervalMs, streams: ctx.streams },
      { direct: ctx.options.cors === undefined },
    );
  });
  return app;
}
