/**
 * Embedded demo: a parent session spawns four children that run in the background under a
 * scheduler with concurrency 2; one of them fails. Every event the parent receives is printed as
 * it arrives, then a summary table. Real system clock, about three seconds.
 *
 *   npx tsx examples/embedded-demo.ts      (also: npm start)
 */
import {
  createSpawnScheduler,
  MemorySessionStore,
  scriptedAgent,
  type Session,
  type SessionEventEnvelope,
  type SpawnBrief,
} from '../src/index.js';
import type { ScriptStep } from '../src/testing/index.js';

const ROOT = 'root-demo';
const startedAt = Date.now();
const elapsed = (): string => `+${((Date.now() - startedAt) / 1000).toFixed(2)}s`;
const excerpt = (text: string | undefined, max = 48): string =>
  text === undefined ? '' : text.length > max ? `${text.slice(0, max - 1)}…` : text;

/** What each child does, by title: tokens and tool calls a few hundred ms apart. */
const scripts: Record<string, ScriptStep[]> = {
  'Survey sources': [
    { tokens: 'Looking for recent surveys on background agents. ', every: 60 },
    { tool: { name: 'web_search', args: { q: 'background agent sessions' }, result: '3 hits', duration: 400 } },
    { tokens: 'Three useful sources found.', every: 60 },
  ],
  'Benchmark queue': [
    { tool: { name: 'run_bench', args: { jobs: 1000 }, result: { p50_ms: 0.4 }, duration: 700 } },
    { tokens: 'Median enqueue latency is 0.4 ms.', every: 50 },
  ],
  'Flaky crawler': [{ tokens: 'Crawling the docs site… ', every: 80 }, { wait: 300 }, { fail: 'crawler lost its connection (HTTP 503)' }],
  'Write summary': [
    { wait: 200 },
    { tokens: 'Background runs stream progress to the parent and end with exactly one completion.', every: 40 },
  ],
};

const answers: Record<string, string> = {
  'Survey sources': 'Three sources: the XState docs, the RxJS guide and the Bamboo engine notes.',
  'Benchmark queue': 'Median enqueue latency 0.4 ms over 1000 jobs.',
  'Write summary': 'Sprout runs children in the background and reports each run exactly once.',
};

const now = new Date().toISOString();
const root: Session = {
  id: ROOT,
  title: 'Demo parent',
  kind: 'root',
  root_session_id: ROOT,
  spawn_depth: 0,
  model: 'demo-model',
  messages: [{ id: 'root-u1', role: 'user', content: 'Research background agents and summarise.', created_at: now }],
  metadata: {},
  created_at: now,
  updated_at: now,
};

async function main(): Promise<void> {
  const store = new MemorySessionStore();
  await store.save(root);

  const agent = scriptedAgent({
    script: (session) => scripts[session.title] ?? [],
    answer: (session) => answers[session.title] ?? null,
  });
  const scheduler = createSpawnScheduler({ store, agent, concurrency: 2, heartbeatIntervalMs: 500 });
  scheduler.diagnostics$.subscribe((d) => console.warn(`${elapsed()}  diagnostic       ${d.kind}`));
  await scheduler.start();

  // Live view of the parent's stream. Titles come from sub_session_started.
  const titles = new Map<string, string>();
  const tokens = new Map<string, number>();
  const completions: string[] = [];
  const name = (childId: string): string => (titles.get(childId) ?? childId.slice(0, 8)).padEnd(16);
  const print = (kind: string, childId: string, text: string): void =>
    console.log(`${elapsed()}  ${kind.padEnd(16)} ${name(childId)} ${text}`);

  const live = scheduler.events(ROOT).subscribe(({ seq, event }: SessionEventEnvelope) => {
    switch (event.type) {
      case 'sub_session_started':
        titles.set(event.child_session_id, event.title ?? event.child_session_id);
        print('started', event.child_session_id, `seq=${seq} run=${event.run_id.slice(0, 8)}`);
        break;
      case 'sub_session_heartbeat':
        print('heartbeat', event.child_session_id, `events_seen=${event.events_seen}`);
        break;
      case 'sub_session_event': {
        const inner = event.event;
        if (inner.type === 'token') tokens.set(event.child_session_id, (tokens.get(event.child_session_id) ?? 0) + 1);
        else if (inner.type === 'tool_start') print('  tool_start', event.child_session_id, inner.tool_name);
        else if (inner.type === 'tool_complete') print('  tool_complete', event.child_session_id, JSON.stringify(inner.result));
        else if (inner.type === 'complete')
          print('  complete', event.child_session_id, `${tokens.get(event.child_session_id) ?? 0} tokens`);
        break;
      }
      case 'sub_session_completed':
        completions.push(event.run_id);
        print(
          'completed',
          event.child_session_id,
          `${event.status.padEnd(9)} tokens=${tokens.get(event.child_session_id) ?? 0} ${event.status === 'completed' ? `“${excerpt(event.result)}”` : (event.error ?? '')}`,
        );
        break;
      default:
        break;
    }
  });

  const briefs: SpawnBrief[] = Object.keys(scripts).map((title) => ({ title, prompt: `Task: ${title}` }));
  const spawned = [];
  for (const brief of briefs) spawned.push(await scheduler.spawnChild(ROOT, brief));

  const results = await scheduler.waitForChildren(ROOT, { policy: 'all' });
  await scheduler.stop({ mode: 'drain' });
  live.unsubscribe();

  console.log('\nSummary');
  const header = ['child', 'status', 'events', 'ms', 'result / error'];
  const rows: string[][] = [];
  for (const result of results) {
    const child = await scheduler.getChild(result.childSessionId);
    const ms = child?.startedAt && child.endedAt ? String(Date.parse(child.endedAt) - Date.parse(child.startedAt)) : '-';
    rows.push([
      titles.get(result.childSessionId) ?? result.childSessionId,
      result.status,
      String(child?.eventsSeen ?? 0),
      ms,
      excerpt(result.result ?? result.error, 56),
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));

  // The replay runs synchronously inside subscribe(): count what the parent's stream retained.
  let envelopes = 0;
  scheduler
    .events(ROOT, { afterSeq: 0 })
    .subscribe(() => (envelopes += 1))
    .unsubscribe();
  console.log(`\n${envelopes} events retained on ${ROOT} (replayable with events('${ROOT}', { afterSeq: 0 })); ${elapsed()} in total.`);

  // Exactly one completion per run: anything else is a bug worth a non-zero exit.
  if (completions.length !== spawned.length || new Set(completions).size !== spawned.length) {
    console.error(`expected ${spawned.length} completions, got ${completions.length}`);
    process.exitCode = 1;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
