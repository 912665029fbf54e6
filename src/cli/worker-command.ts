import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import type { AgentRuntime } from '../api/ports.js';
import { openAICompatibleAgent } from '../agents/ai-sdk/index.js';
import { systemClock } from '../clock.js';
import type { DistributedDiagnostic } from '../distributed/diagnostics.js';
import { createWorker } from '../distributed/worker.js';
import { serveDemoAgent } from '../server/serve-agent.js';
import { CliUsageError, EXIT, exitCodeOf, oneLine } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { DEFAULT_MAX_DEPTH, MAX_DEPTH_ENV, maxDepthFlagSchema, maxDepthInput, parseCommandFlags } from './command-flags.js';

/** `sprout worker …`, parsed. */
export interface WorkerCliOptions {
  redis: string;
  postgres: string;
  prefix: string;
  concurrency: number;
  globalConcurrency: number | undefined;
  perParent: number;
  recover: 'interrupt' | 'fail' | 'requeue';
  lockMs: number;
  reconcileMs: number;
  heartbeatMs: number;
  maxRunMs: number | undefined;
  /** `--max-depth N` (or `SPROUT_MAX_DEPTH`): deepest child spawned, and levels a child's events go up. */
  maxDepth: number;
  provider: { baseURL: string; model: string } | undefined;
  agentModule: string | undefined;
  name: string | undefined;
  verbose: boolean;
  help: boolean;
}

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be an integer').transform(Number).pipe(z.number().int().min(min).max(max));

const url = (protocols: RegExp, what: string) =>
  z.string().refine((value) => {
    try {
      return protocols.test(new URL(value).protocol);
    } catch {
      return false;
    }
  }, `must be a ${what} URL`);

const flagsSchema = z.object({
  redis: url(/^rediss?:$/, 'redis:// or rediss://'),
  postgres: url(/^postgres(ql)?:$/, 'postgres://'),
  prefix: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,47}$/, 'must be lowercase letters, digits and _ (at most 48)')
    .refine((prefix) => !prefix.startsWith('pg_'), 'must not start with pg_ (PostgreSQL reserves those schema names)')
    .default('sprout'),
  concurrency: int(1, 1024).default(4),
  'global-concurrency': int(1, 100_000).optional(),
  'per-parent': int(1, 10_000).default(8),
  recover: z.enum(['interrupt', 'fail', 'requeue']).default('interrupt'),
  'lock-ms': int(500, 3_600_000).default(30_000),
  'reconcile-ms': int(100, 86_400_000).default(60_000),
  'heartbeat-ms': int(10, 3_600_000).default(5000),
  'max-run-ms': int(1, 2_147_483_647).optional(),
  'max-depth': maxDepthFlagSchema,
  provider: z.literal('openai-compatible').optional(),
  'base-url': url(/^https?:$/, 'http(s)').optional(),
  model: z.string().min(1).max(500).optional(),
  'agent-module': z.string().min(1).max(4096).optional(),
  name: z.string().min(1).max(200).optional(),
  verbose: z.boolean().default(false),
  help: z.boolean().default(false),
});

/**
 * Parses `sprout worker`'s flags (after the command name). `SPROUT_REDIS_URL`,
 * `SPROUT_POSTGRES_URL`, `SPROUT_PREFIX` and `SPROUT_MAX_DEPTH` stand in for `--redis`,
 * `--postgres`, `--prefix` and `--max-depth` (as for `sprout serve`). Throws a one-line
 * {@link CliUsageError} for anything it does not accept.
 *
 * @example
 * parseWorkerArgs(['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://localhost/app'], {});
 */
export function parseWorkerArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): WorkerCliOptions {
  const values = parseCommandFlags('worker', argv, {
    redis: { type: 'string' },
    postgres: { type: 'string' },
    prefix: { type: 'string' },
    concurrency: { type: 'string' },
    'global-concurrency': { type: 'string' },
    'per-parent': { type: 'string' },
    recover: { type: 'string' },
    'lock-ms': { type: 'string' },
    'reconcile-ms': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'max-run-ms': { type: 'string' },
    'max-depth': { type: 'string' },
    provider: { type: 'string' },
    'base-url': { type: 'string' },
    model: { type: 'string' },
    'agent-module': { type: 'string' },
    name: { type: 'string' },
    verbose: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help === true) return { ...defaults(), help: true };
  const fromEnv = (name: string): string | undefined => (env[name] === undefined || env[name] === '' ? undefined : env[name]);
  const parsed = flagsSchema.safeParse({
    ...values,
    redis: values.redis ?? fromEnv('SPROUT_REDIS_URL'),
    postgres: values.postgres ?? fromEnv('SPROUT_POSTGRES_URL'),
    prefix: values.prefix ?? fromEnv('SPROUT_PREFIX'),
    'max-depth': maxDepthInput(values, env),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const flag = issue?.path.join('.') ?? '?';
    const missing = issue?.code === 'invalid_type' && (flag === 'redis' || flag === 'postgres');
    throw new CliUsageError(
      missing
        ? `sprout worker: --${flag} URL is required (or SPROUT_${flag.toUpperCase()}_URL)`
        : `sprout worker: --${flag} ${issue?.message ?? 'is invalid'}`,
    );
  }
  const flags = parsed.data;
  const providerFlags = [flags.provider, flags['base-url'], flags.model];
  if (providerFlags.some((value) => value !== undefined) && providerFlags.some((value) => value === undefined)) {
    throw new CliUsageError('sprout worker: --provider openai-compatible needs --base-url URL and --model NAME');
  }
  if (flags.provider !== undefined && flags['agent-module'] !== undefined) {
    throw new CliUsageError('sprout worker: --provider and --agent-module are two different agents: give one');
  }
  return {
    redis: flags.redis,
    postgres: flags.postgres,
    prefix: flags.prefix,
    concurrency: flags.concurrency,
    globalConcurrency: flags['global-concurrency'],
    perParent: flags['per-parent'],
    recover: flags.recover,
    lockMs: flags['lock-ms'],
    reconcileMs: flags['reconcile-ms'],
    heartbeatMs: flags['heartbeat-ms'],
    maxRunMs: flags['max-run-ms'],
    maxDepth: flags['max-depth'],
    provider: flags['base-url'] !== undefined && flags.model !== undefined ? { baseURL: flags['base-url'], model: flags.model } : undefined,
    agentModule: flags['agent-module'],
    name: flags.name,
    verbose: flags.verbose,
    help: false,
  };
}

function defaults(): WorkerCliOptions {
  return {
    redis: '',
    postgres: '',
    prefix: 'sprout',
    concurrency: 4,
    globalConcurrency: undefined,
    perParent: 8,
    recover: 'interrupt',
    lockMs: 30_000,
    reconcileMs: 60_000,
    heartbeatMs: 5000,
    maxRunMs: undefined,
    maxDepth: DEFAULT_MAX_DEPTH,
    provider: undefined,
    agentModule: undefined,
    name: undefined,
    verbose: false,
    help: false,
  };
}

/** `sprout worker --help`. */
export const WORKER_HELP = `sprout worker: run children's agent loops from the distributed run queue (BullMQ on Redis),
with sessions, events and the run ledger in PostgreSQL. Start as many as you like, on any host.

Options:
  --redis URL              Redis (redis:// or rediss://; also SPROUT_REDIS_URL)           required
  --postgres URL           PostgreSQL (postgres://; also SPROUT_POSTGRES_URL)              required
  --prefix NAME            deployment: Redis key and queue prefix, PostgreSQL schema (default sprout;
                           also SPROUT_PREFIX)
  --concurrency N          runs this worker runs at once (1-1024, default 4)
  --global-concurrency N   set the queue's global limit: runs at once across all workers
  --per-parent N           runs of one parent at once across all workers (default 8)
  --recover MODE           a run whose worker died: interrupt (alias fail; ends it error, reason
                           interrupted) or requeue (ends it so, then runs the child again) (default interrupt)
  --lock-ms MS             how soon a dead worker's runs are taken over: BullMQ lock duration and
                           stalled-check interval, and the run leases (default 30000)
  --reconcile-ms MS        how often the queue is checked against PostgreSQL, to put back runs
                           Redis lost (one worker at a time, and at start) (default 60000)
  --heartbeat-ms MS        heartbeat period of running children (default 5000)
  --max-run-ms MS          wall-clock limit of one run (default none)
  --max-depth N            deepest child this worker's agents spawn (root = 0; 0-1000, default ${DEFAULT_MAX_DEPTH})
                           and how many levels a child's events are forwarded up (also
                           ${MAX_DEPTH_ENV}); give the front door (\`sprout serve\`) the same
  --provider openai-compatible --base-url URL --model NAME
                           run children on a real model (API key from SPROUT_API_KEY)
  --agent-module PATH      a module whose default export (or createAgent export) is an AgentRuntime
                           or a function returning one (called with { env })
  --name NAME              this worker's name (default host:pid:random)
  --verbose                also print runs put back in the queue (a parent at its limit, a service away)

Without --provider or --agent-module the worker runs the scripted demo agent (no model needed).
SIGTERM or Ctrl+C drains: running children finish, queued ones stay queued for other workers;
a second signal exits at once (130).`;

/** Loads `--agent-module`: its default export, `createAgent` or `agent` — an AgentRuntime or a function making one. */
async function loadAgentModule(path: string, env: Readonly<Record<string, string | undefined>>): Promise<AgentRuntime> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new CliUsageError(`sprout worker: --agent-module ${path} could not be loaded: ${oneLine(error)}`, { cause: error });
  }
  const candidate = loaded.default ?? loaded.createAgent ?? loaded.agent;
  const made: unknown =
    typeof candidate === 'function' ? await (candidate as (context: { env: typeof env }) => unknown)({ env }) : candidate;
  if (typeof made !== 'object' || made === null || typeof (made as { execute?: unknown }).execute !== 'function') {
    throw new CliUsageError(
      `sprout worker: --agent-module ${path} must export (default, createAgent or agent) an AgentRuntime or a function returning one`,
    );
  }
  return made as AgentRuntime;
}

/** One line per diagnostic worth an operator's attention. */
function describeDiagnostic(diagnostic: DistributedDiagnostic): string {
  switch (diagnostic.kind) {
    case 'service_error':
      return `service: ${oneLine(diagnostic.error)}`;
    case 'run_deferred':
      return `run ${diagnostic.runId} back in the queue for ${diagnostic.delayMs} ms: ${diagnostic.why}${
        diagnostic.error === undefined ? '' : ` (${oneLine(diagnostic.error)})`
      }`;
    case 'run_recovered':
      return `run ${diagnostic.runId} of ${diagnostic.childSessionId} lost its worker: ended ${diagnostic.status}${
        diagnostic.requeuedAs === undefined ? '' : `, child queued again as run ${diagnostic.requeuedAs}`
      }`;
    case 'lease_lost':
      return `run ${diagnostic.runId} lost its ${diagnostic.what} lease (this worker stalled or Redis was away)`;
    case 'queue_reconciled':
      return `queue reconciled with PostgreSQL (Redis had lost data): ${diagnostic.reopened.length} open run(s) and ${diagnostic.requeued.length} pending run(s) queued again`;
    case 'run_slot_wait':
      return diagnostic.resumed
        ? `run ${diagnostic.runId} finished waiting for its children while every slot was taken: it goes on first when one frees`
        : `run ${diagnostic.runId} waits for a slot of this worker`;
    case 'config_mismatch':
      return `run ${diagnostic.runId} was queued with ${diagnostic.option} ${diagnostic.queued}, this worker has ${diagnostic.option} ${diagnostic.here}: give every process of the deployment the same value`;
    case 'scheduler':
      return `scheduler diagnostic: ${diagnostic.diagnostic.kind}`;
  }
}

/**
 * `sprout worker`: runs a distributed worker until SIGTERM / Ctrl+C, then drains (running
 * children finish; queued ones stay in the queue for the other workers) and resolves 0. The first
 * stdout line is `worker NAME ready (…)`. Never throws: errors are one line on stderr.
 *
 * @example
 * process.exitCode = await runWorkerCommand(['--redis', 'redis://127.0.0.1:6379', '--postgres', 'postgres://localhost/app'], processIo());
 */
export async function runWorkerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const env = io.env ?? {};
    const options = parseWorkerArgs(argv, env);
    if (options.help) {
      io.stdout.write(`${WORKER_HELP}\n`);
      return EXIT.ok;
    }
    const agent: AgentRuntime = options.provider
      ? openAICompatibleAgent({
          baseURL: options.provider.baseURL,
          ...(env.SPROUT_API_KEY ? { apiKey: env.SPROUT_API_KEY } : {}),
          defaultModel: options.provider.model,
        })
      : options.agentModule !== undefined
        ? await loadAgentModule(options.agentModule, env)
        : serveDemoAgent(systemClock);
    const worker = createWorker({
      redis: options.redis,
      postgres: options.postgres,
      prefix: options.prefix,
      agent,
      concurrency: options.concurrency,
      globalConcurrency: options.globalConcurrency,
      perParentConcurrency: options.perParent,
      recover: options.recover,
      heartbeatIntervalMs: options.heartbeatMs,
      maxRunMs: options.maxRunMs,
      maxDepth: options.maxDepth,
      lockDurationMs: options.lockMs,
      stalledIntervalMs: options.lockMs,
      leaseMs: options.lockMs,
      reconcileIntervalMs: options.reconcileMs,
      admissionRetryMs: Math.min(2000, Math.max(100, Math.floor(options.lockMs / 10))),
      name: options.name,
      onDiagnostic: (diagnostic) => {
        if (diagnostic.kind === 'run_deferred' && !options.verbose) return;
        io.stderr.write(`sprout worker: ${describeDiagnostic(diagnostic)}\n`);
      },
    });
    let interrupted = false;
    let wake: () => void = () => {};
    const signalled = new Promise<void>((resolve) => (wake = resolve));
    const off = io.onInterrupt(() => {
      interrupted = true;
      off();
      wake();
    });
    try {
      await worker.start();
    } catch (error) {
      off();
      await worker.stop({ mode: 'cancel' }).catch(() => undefined);
      throw error;
    }
    io.stdout.write(
      `worker ${worker.id} ready (prefix ${options.prefix}, concurrency ${options.concurrency}, per-parent ${options.perParent}, recover ${options.recover})\n`,
    );
    if (!interrupted) await signalled;
    // A second signal now exits at once (130), as the other commands do.
    const offSecond = io.onInterrupt(() => process.exit(EXIT.interrupted));
    io.stderr.write(`sprout worker: draining: ${worker.runningRuns().length} running run(s) finish, queued ones stay queued\n`);
    await worker.stop({ mode: 'drain' });
    offSecond();
    io.stderr.write('sprout worker: stopped\n');
    return EXIT.ok;
  } catch (error) {
    const message = oneLine(error);
    io.stderr.write(`${error instanceof CliUsageError && message.startsWith('sprout') ? message : `sprout worker: ${message}`}\n`);
    return exitCodeOf(error);
  }
}
