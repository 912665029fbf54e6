import type { ScriptStep } from '../testing/scripted-agent.js';
import { createSeededRandom } from './seeded-random.js';

/** How a demo child is expected to end. */
export type ExpectedStatus = 'completed' | 'error' | 'cancelled';

/** One child of the demo: its brief, the scripted agent's script, and how it should end. */
export interface DemoChildPlan {
  title: string;
  prompt: string;
  script: ScriptStep[];
  /** The final assistant message (streamed as tokens too); null for runs that do not finish. */
  answer: string | null;
  expected: ExpectedStatus;
}

/** Everything a demo run does, derived from its seed and flags alone. */
export interface DemoPlan {
  seed: string;
  rootTitle: string;
  rootPrompt: string;
  children: DemoChildPlan[];
  /** Title of the child that `--cancel-after` cancels. */
  cancelTitle: string | undefined;
}

/** What {@link createDemoPlan} needs. */
export interface DemoPlanInput {
  seed: string;
  children: number;
  fail: boolean;
  cancelAfterMs: number | undefined;
}

interface Task {
  title: string;
  intro: string;
  tool: { name: string; args: Record<string, unknown>; result: unknown };
  followUp?: { name: string; args: Record<string, unknown>; result: unknown };
  answer: string;
}

const TASKS: readonly Task[] = [
  {
    title: 'Survey sources',
    intro: 'Looking for recent write-ups on background agent sessions. ',
    tool: { name: 'web_search', args: { q: 'background agent sessions scheduler' }, result: '4 relevant articles' },
    answer: 'Four sources cover background sub-agents; two describe heartbeats and exactly-once completion.',
  },
  {
    title: 'Benchmark queue',
    intro: 'Running the enqueue benchmark against a thousand jobs. ',
    tool: { name: 'run_bench', args: { jobs: 1000 }, result: { p50_ms: 0.4, p99_ms: 1.9 } },
    answer: 'Enqueue takes 0.4 ms at the median and 1.9 ms at p99 for 1000 jobs.',
  },
  {
    title: 'Read the XState docs',
    intro: 'Reading how XState v5 spawns and inspects child actors. ',
    tool: { name: 'fetch_url', args: { url: 'https://stately.ai/docs/spawn' }, result: '12 kB of documentation' },
    followUp: { name: 'fetch_url', args: { url: 'https://stately.ai/docs/inspection' }, result: '9 kB of documentation' },
    answer: 'Spawned actors are stopped with their parent; the inspect option sees every actor in the system.',
  },
  {
    title: 'Check licences',
    intro: 'Checking the licences of the runtime dependencies. ',
    tool: { name: 'read_file', args: { path: 'package.json' }, result: '8 dependencies' },
    followUp: { name: 'license_check', args: { production: true }, result: { MIT: 7, 'Apache-2.0': 1 } },
    answer: 'All eight runtime dependencies are MIT or Apache-2.0.',
  },
  {
    title: 'Compare SQLite modes',
    intro: 'Comparing rollback journal and WAL for many small writes. ',
    tool: { name: 'run_query', args: { pragma: 'journal_mode', values: ['delete', 'wal'] }, result: { delete_ms: 41, wal_ms: 6 } },
    answer: 'WAL with synchronous=NORMAL is about seven times faster for small writes here.',
  },
  {
    title: 'Draft release notes',
    intro: 'Collecting the merged changes since the last tag. ',
    tool: { name: 'git_log', args: { since: 'v0.1.0' }, result: '23 commits' },
    answer: 'Release notes: SQLite store, live CLI demo, inspector relay, and recovery of interrupted runs.',
  },
  {
    title: 'Review test coverage',
    intro: 'Running the suite with coverage to find untested paths. ',
    tool: { name: 'run_tests', args: { coverage: true }, result: { statements: 0.93, branches: 0.88 } },
    answer: 'Coverage is 93% of statements and 88% of branches; the gaps are in the CLI error paths.',
  },
  {
    title: 'Triage open issues',
    intro: 'Reading the open issues and grouping them by area. ',
    tool: { name: 'list_issues', args: { state: 'open' }, result: '14 open issues' },
    answer: 'Fourteen open issues: six about streaming, five about stores, three about the CLI.',
  },
];

const FAILURE = 'upstream API returned HTTP 503 (simulated failure)';

/**
 * The demo's children, scripts and expected endings from a seed and the flags, with every
 * random choice drawn from one seeded stream: the same input gives the same plan.
 *
 * @example
 * const plan = createDemoPlan({ seed: '42', children: 6, fail: true, cancelAfterMs: 1500 });
 * plan.children.map((child) => child.expected); // one 'error', one 'cancelled', the rest 'completed'
 */
export function createDemoPlan(input: DemoPlanInput): DemoPlan {
  const random = createSeededRandom(input.seed, 'scripts');
  const offset = random.int(0, TASKS.length - 1);
  const indices = Array.from({ length: input.children }, (_, i) => i);
  const failIndex = input.fail ? random.pick(indices) : undefined;
  const others = indices.filter((i) => i !== failIndex);
  const cancelIndex = input.cancelAfterMs !== undefined && others.length > 0 ? random.pick(others) : undefined;

  const children = indices.map((i): DemoChildPlan => {
    const task = TASKS[(offset + i) % TASKS.length] as Task;
    const round = Math.floor(i / TASKS.length);
    const title = round === 0 ? task.title : `${task.title} #${round + 1}`;
    const prompt = `${task.intro.trim()} Report back in one or two sentences.`;
    if (i === failIndex) return { title, prompt, script: failingScript(task, random), answer: null, expected: 'error' };
    if (i === cancelIndex)
      return { title, prompt, script: cancelledScript(task, random, input.cancelAfterMs ?? 0), answer: null, expected: 'cancelled' };
    return { title, prompt, script: workingScript(task, random), answer: task.answer, expected: 'completed' };
  });

  return {
    seed: input.seed,
    rootTitle: `Sprout demo (seed ${input.seed})`,
    rootPrompt: 'Split the release checklist into background tasks and report what each one found.',
    children,
    cancelTitle: cancelIndex === undefined ? undefined : children[cancelIndex]?.title,
  };
}

/** Reasoning, a tool call or two, a pause, then the answer streamed token by token: 1.5 to 3 s. */
function workingScript(task: Task, random: ReturnType<typeof createSeededRandom>): ScriptStep[] {
  const steps: ScriptStep[] = [
    { tokens: task.intro, every: random.int(40, 90), reasoning: true },
    { tool: { ...task.tool, duration: random.int(300, 900) } },
  ];
  if (task.followUp) steps.push({ tool: { ...task.followUp, duration: random.int(200, 600) } });
  steps.push({ wait: random.int(150, 400) }, { tokens: task.answer, every: random.int(30, 60) });
  return steps;
}

/** Starts like the others, then its tool errors and the agent gives up. */
function failingScript(task: Task, random: ReturnType<typeof createSeededRandom>): ScriptStep[] {
  return [
    { tokens: task.intro, every: random.int(40, 90), reasoning: true },
    { tool: { ...task.tool, result: undefined, error: FAILURE, duration: random.int(300, 700) } },
    { wait: random.int(100, 300) },
    { fail: FAILURE },
  ];
}

/** A tool call that lasts well past the cancel time, so the cancel always finds the run in progress. */
function cancelledScript(task: Task, random: ReturnType<typeof createSeededRandom>, cancelAfterMs: number): ScriptStep[] {
  return [
    { tokens: task.intro, every: random.int(40, 90), reasoning: true },
    {
      tool: {
        name: 'crawl_site',
        args: { url: 'https://example.com/archive', depth: 5 },
        result: 'never returns',
        duration: cancelAfterMs + 60_000,
      },
    },
    { tokens: task.answer, every: 40 },
  ];
}
