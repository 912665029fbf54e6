import { randomUUID } from 'node:crypto';
import { createSpawnScheduler, type SpawnScheduler } from '../create-spawn-scheduler.js';
import { systemClock, toRfc3339 } from '../clock.js';
import { SchedulerStoppedError } from '../errors.js';
import { scriptedAgent } from '../testing/scripted-agent.js';
import type { AgentRuntime } from '../agents/agent-runtime.js';
import { openAICompatibleAgent } from '../agents/ai-sdk/index.js';
import { createChildProgress, seconds } from './child-progress.js';
import { EXIT, oneLine } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { acquireDbLease } from './db-lease.js';
import { createDemoPlan, type DemoPlan } from './demo-plan.js';
import { buildDemoRoot } from './demo-root.js';
import { formatDemoSummary, judgeDemo } from './demo-summary.js';
import type { DemoView } from './demo-view.js';
import { createInspectionOutputs, type InspectionOutputs } from './inspection-outputs.js';
import { createJsonView } from './json-view.js';
import { createLineView } from './line-view.js';
import { createLiveProgressView } from './live-progress-view.js';
import { openDatabase, type OpenDatabase } from './open-database.js';
import { DEFAULT_DB_PATH, type DemoOptions } from './parse-args.js';
import { randomSeed } from './seeded-random.js';

/** Heartbeat period of the demo's runs: often enough for the "last heartbeat" column to move. */
const HEARTBEAT_MS = 500;

/** A shell word: as is when it is plain, else single-quoted. */
const shellWord = (text: string): string => (/^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`);

/** The command that repeats this run: the same plan on the same file and the same provider. */
export function rerunCommand(options: DemoOptions, seed: string): string {
  const flags = [`--seed ${shellWord(seed)}`, `--children ${options.children}`, `--concurrency ${options.concurrency}`];
  if (options.fail) flags.push('--fail');
  if (options.cancelAfterMs !== undefined) flags.push(`--cancel-after ${options.cancelAfterMs}`);
  if (options.db !== DEFAULT_DB_PATH) flags.push(`--db ${shellWord(options.db)}`);
  if (options.provider)
    flags.push(
      `--provider ${options.provider.kind} --base-url ${shellWord(options.provider.baseURL)} --model ${shellWord(options.provider.model)}`,
    );
  return `sprout demo ${flags.join(' ')}`;
}

function pickView(options: DemoOptions, io: CliIo, startedAt: number): DemoView {
  if (options.json) return createJsonView(io.stdout, io.stderr);
  if (io.stdout.isTTY === true) return createLiveProgressView(io.stdout, { now: () => systemClock.now() });
  return createLineView(io.stdout, { startedAt, now: () => systemClock.now() });
}

/**
 * `sprout demo`: a root session spawns `--children` children that run side by side under
 * `--concurrency` on the scripted agent (token streams, tool calls, waits of a few hundred ms on
 * the real clock), on the SQLite file of `--db`. Shows live progress, then a summary; resolves
 * with exit code 0 when every run ended as planned (completed, or error / cancelled for the
 * children `--fail` / `--cancel-after` picked), 1 otherwise, 130 when interrupted.
 *
 * @example
 * process.exitCode = await runDemo(parseCliArgs(['demo', '--json']) as DemoOptions, processIo());
 */
export async function runDemo(options: DemoOptions, io: CliIo): Promise<number> {
  const seed = options.seed ?? randomSeed();
  const plan = createDemoPlan({ seed, children: options.children, fail: options.fail, cancelAfterMs: options.cancelAfterMs });
  const startedAt = systemClock.now();
  const cleanup: (() => unknown)[] = [];
  try {
    // The inspector connects before any actor exists, so no actor registration is dropped.
    const outputs = await createInspectionOutputs({ inspectPort: options.inspectPort, traceFile: options.trace });
    cleanup.unshift(() => outputs.close());
    const db = openDatabase(options.db, { onEventLogError: (error) => io.stderr.write(`sprout: event log: ${oneLine(error)}\n`) });
    cleanup.unshift(() => db.close());
    const lease = acquireDbLease(options.db, 'demo');
    cleanup.unshift(() => lease.release());
    const view = pickView(options, io, startedAt);
    view.note(`sprout demo · seed ${seed} · ${options.children} children · concurrency ${options.concurrency} · db ${options.db}`);
    if (outputs.relay) {
      view.note(`inspector: open ${outputs.relay.pageUrl} in a browser to watch the scheduler and every job machine live`);
      view.note(`           (that page embeds the Stately inspector, loaded from stately.ai; receivers connect to ${outputs.relay.wsUrl})`);
    }
    if (outputs.trace) view.note(`trace: inspection events → ${outputs.trace.path}`);
    return await runScheduled({ options, io, plan, db, outputs, view, startedAt, cleanup });
  } finally {
    for (const step of cleanup.splice(0)) await step();
  }
}

interface RunContext {
  options: DemoOptions;
  io: CliIo;
  plan: DemoPlan;
  db: OpenDatabase;
  outputs: InspectionOutputs;
  view: DemoView;
  startedAt: number;
  cleanup: (() => unknown)[];
}

async function runScheduled({ options, io, plan, db, outputs, view, startedAt, cleanup }: RunContext): Promise<number> {
  const byTitle = new Map(plan.children.map((child) => [child.title, child]));
  const agent: AgentRuntime = options.provider
    ? openAICompatibleAgent({
        baseURL: options.provider.baseURL,
        ...(io.env?.SPROUT_API_KEY ? { apiKey: io.env.SPROUT_API_KEY } : {}),
        defaultModel: options.provider.model,
      })
    : scriptedAgent({
        clock: systemClock,
        script: (session) => byTitle.get(session.title)?.script ?? [],
        answer: (session) => byTitle.get(session.title)?.answer ?? null,
      });
  const scheduler: SpawnScheduler = createSpawnScheduler({
    store: db.store,
    eventLog: db.eventLog,
    agent,
    clock: systemClock,
    concurrency: options.concurrency,
    perParentConcurrency: options.concurrency,
    heartbeatIntervalMs: HEARTBEAT_MS,
    // Ids are fresh on every run (a run id is never reused in a database); the seed decides the plan.
    createId: randomUUID,
    inspect: outputs.inspect,
    onDiagnostic: (diagnostic) => io.stderr.write(`sprout: scheduler diagnostic: ${diagnostic.kind}\n`),
  });
  let stopping: Promise<void> | undefined;
  const stop = (mode: 'drain' | 'cancel'): Promise<void> => (stopping ??= scheduler.stop({ mode }));
  cleanup.unshift(() => stop('cancel'));

  let interrupted = false;
  const offInterrupt = io.onInterrupt(() => {
    interrupted = true;
    view.note('interrupted: cancelling every run (Ctrl+C again to quit at once)');
    void stop('cancel');
  });
  cleanup.unshift(offInterrupt);

  const recovery = await scheduler.start();
  if (recovery.interrupted.length > 0)
    view.note(`reconciled ${recovery.interrupted.length} run(s) a killed process left behind (now error, reason interrupted)`);

  // Every run gets its own root session: earlier runs (of any seed) stay in the file, untouched.
  const rootId = randomUUID();
  await db.store.save(buildDemoRoot(plan, rootId, toRfc3339(systemClock.now())));

  const progress = createChildProgress();
  const subscription = scheduler
    .events(rootId)
    .subscribe((envelope) => view.onEnvelope(envelope, progress.apply(envelope, systemClock.now())));
  cleanup.unshift(() => subscription.unsubscribe());

  const spawned: string[] = [];
  for (const child of plan.children) {
    try {
      const model = options.provider ? { model: options.provider.model } : {};
      spawned.push(
        (await scheduler.spawnChild(rootId, { title: child.title, prompt: child.prompt, subagentType: 'researcher', ...model }))
          .childSessionId,
      );
    } catch (error) {
      if (interrupted && error instanceof SchedulerStoppedError) break;
      throw error;
    }
  }
  // A durable log delivers each announcement once its batch committed (the next event-loop turn):
  // the live view starts with one row per child, so wait until every start has arrived.
  for (let turn = 0; turn < 1000 && progress.rows().length < spawned.length; turn++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  view.start(progress);

  const cancelIndex = plan.children.findIndex((child) => child.title === plan.cancelTitle);
  const cancelTarget = spawned[cancelIndex];
  const cancelTimer: unknown =
    cancelTarget === undefined || options.cancelAfterMs === undefined
      ? undefined
      : systemClock.setTimeout(() => {
          void scheduler.cancel(cancelTarget, 'user');
        }, options.cancelAfterMs);

  await scheduler.waitForChildren(rootId, { policy: 'all', childSessionIds: spawned });
  if (cancelTimer !== undefined) systemClock.clearTimeout(cancelTimer);
  await stop('drain');
  subscription.unsubscribe();
  await outputs.flush();
  await view.finish();

  const rows = progress.rows();
  const verdicts = judgeDemo(plan.children.slice(0, spawned.length), rows);
  const wrong = verdicts.filter((verdict) => !verdict.ok);
  const took = seconds(systemClock.now() - startedAt);
  const verdict = interrupted
    ? `interrupted after ${took}: ${rows.filter((row) => row.state === 'cancelled').length} of ${rows.length} runs cancelled`
    : `${verdicts.length - wrong.length}/${verdicts.length} runs ended as expected in ${took}`;
  if (options.json) {
    io.stderr.write(`sprout demo: ${verdict}\n`);
  } else {
    // On a terminal the live rows stay on screen as the summary; elsewhere print the table.
    io.stdout.write(io.stdout.isTTY === true ? '\n' : `\n${formatDemoSummary(rows, interrupted ? [] : verdicts)}\n\n`);
    io.stdout.write(`${verdict} · repeat: ${rerunCommand(options, plan.seed)} · inspect the file: sprout status --db ${options.db}\n`);
  }
  if (interrupted) return EXIT.interrupted;
  if (wrong.length > 0) {
    io.stderr.write(
      `sprout demo: ${wrong.map((verdict) => `${verdict.title} ended ${verdict.actual}, expected ${verdict.expected}`).join('; ')}\n`,
    );
  }
  if (outputs.relay && !options.json && io.stdout.isTTY === true) await holdRelay(io, outputs, offInterrupt);
  return wrong.length > 0 ? EXIT.failed : EXIT.ok;
}

/** On a terminal, keep serving the inspector for viewers that are still loading, until Ctrl+C. */
async function holdRelay(io: CliIo, outputs: InspectionOutputs, offInterrupt: () => void): Promise<void> {
  offInterrupt();
  io.stdout.write(`inspector relay still serving ${outputs.relay?.pageUrl ?? ''} for late viewers · Ctrl+C to exit\n`);
  await new Promise<void>((resolve) => {
    const off = io.onInterrupt(() => {
      off();
      resolve();
    });
  });
}
