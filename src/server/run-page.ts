import type { AgentEvent } from '../../machines/agent-event.events.js';
import type { SessionStore } from '../api/ports.js';
import type { RunIndex, RunRecord } from '../api/run-index.js';
import type { Message } from '../api/wire-types.js';
import type { ServerScheduler } from './server-options.js';

/** Most events of the parent's stream a run page carries. */
export const RUN_PAGE_EVENTS = 1000;

/**
 * One stretch of a run's life on its page: `queued`, `running`, `waiting` (on its children,
 * from heartbeats that carry `waiting_on`), then its end (`completed`, `error`, …, no duration).
 *
 * @example
 * const segment: RunTimelineSegment = { state: 'queued', from: t0, to: t1, duration_ms: 120 };
 */
export interface RunTimelineSegment {
  state: string;
  from: string;
  to?: string | undefined;
  /** `to - from`, or up to now for the open segment. */
  duration_ms?: number | undefined;
  /** While `waiting`: the children it waited on. */
  waiting_on?: string[] | undefined;
}

/**
 * What `GET /v1/runs/{runId}` answers: the indexed run, the child's prompt and transcript, the
 * run's events on the parent's stream, its timeline, tokens, and links up and down the tree.
 *
 * @example
 * const page: RunPageData = await runPage({ index, store, scheduler, now: Date.now }, 'r1');
 */
export interface RunPageData {
  run: RunRecord;
  /** The child's first user message. */
  prompt?: string | undefined;
  /** The child's messages (empty when the session is gone). */
  transcript: Message[];
  /** The run's events on the parent's stream (`sub_session_*` of this run), oldest first. */
  events: { seq: number; event: AgentEvent }[];
  /** More events than {@link RUN_PAGE_EVENTS}, or older ones no longer retained. */
  events_truncated: boolean;
  timeline: RunTimelineSegment[];
  tokens?: { prompt: number; completion: number; total: number } | undefined;
  links: {
    /** The parent session and its own indexed run, when it has one. */
    parent: { session_id: string; run_id?: string | undefined };
    root_session_id: string;
    /** Runs this run's child announced (its children), newest first, up to 100. */
    children: RunRecord[];
    /** Other runs of the same child session, newest first, up to 20. */
    other_runs: RunRecord[];
  };
}

/** What {@link runPage} reads. */
export interface RunPageDeps {
  index: RunIndex;
  store: SessionStore;
  scheduler: Pick<ServerScheduler, 'events'>;
  now(): number;
}

const runIdOf = (event: AgentEvent): string | undefined =>
  event.type === 'sub_session_started' ||
  event.type === 'sub_session_heartbeat' ||
  event.type === 'sub_session_event' ||
  event.type === 'sub_session_completed'
    ? event.run_id
    : undefined;

/**
 * The run page of `runId`, or `undefined` when the index does not know it.
 *
 * @example
 * const page = await runPage(deps, 'r1');
 */
export async function runPage(deps: RunPageDeps, runId: string): Promise<RunPageData | undefined> {
  const run = await deps.index.getRun(runId);
  if (run === undefined) return undefined;
  const [session, children, siblings, parentRuns] = await Promise.all([
    deps.store.load(run.child_session_id),
    deps.index.queryRuns({ parent: run.child_session_id, limit: 100 }),
    deps.index.queryRuns({ child: run.child_session_id, limit: 21 }),
    deps.index.queryRuns({ child: run.parent_session_id, limit: 1 }),
  ]);
  const { events, truncated } = runEvents(deps.scheduler, run);
  const transcript = session?.messages ?? [];
  const tokens =
    run.total_tokens === undefined
      ? undefined
      : { prompt: run.prompt_tokens ?? 0, completion: run.completion_tokens ?? 0, total: run.total_tokens };
  const parentRun = parentRuns.runs[0];
  return {
    run,
    prompt: transcript.find((message) => message.role === 'user')?.content,
    transcript,
    events,
    events_truncated: truncated,
    timeline: runTimeline(run, events, deps.now()),
    ...(tokens === undefined ? {} : { tokens }),
    links: {
      parent: { session_id: run.parent_session_id, ...(parentRun === undefined ? {} : { run_id: parentRun.run_id }) },
      root_session_id: run.root_session_id,
      children: children.runs,
      other_runs: siblings.runs.filter((other) => other.run_id !== run.run_id).slice(0, 20),
    },
  };
}

/** The run's events on its parent's stream: a synchronous replay (embedded scheduler), bounded. */
function runEvents(scheduler: Pick<ServerScheduler, 'events'>, run: RunRecord): { events: RunPageData['events']; truncated: boolean } {
  const events: RunPageData['events'] = [];
  let truncated = false;
  let first = true;
  const subscription = scheduler.events(run.parent_session_id, { afterSeq: run.started_seq - 1 }).subscribe(({ seq, event }) => {
    if (first && seq > run.started_seq) truncated = true;
    first = false;
    if (run.ended_seq !== undefined && seq > run.ended_seq) return;
    if (runIdOf(event) !== run.run_id) return;
    if (events.length < RUN_PAGE_EVENTS) events.push({ seq, event });
    else truncated = true;
  });
  subscription.unsubscribe();
  return { events, truncated };
}

const ms = (iso: string): number => Date.parse(iso);

/**
 * The run's timeline: queued from its announcement to its first heartbeat, then running or
 * waiting as its heartbeats say, then its end.
 *
 * @example
 * runTimeline(run, events, Date.now()); // [{ state: 'queued', … }, { state: 'running', … }, { state: 'completed', from }]
 */
export function runTimeline(run: RunRecord, events: RunPageData['events'], now: number): RunTimelineSegment[] {
  const segments: RunTimelineSegment[] = [];
  const open = (state: string, from: string, waiting?: string[]): void => {
    const last = segments.at(-1);
    if (last !== undefined && last.to === undefined) {
      if (last.state === state && String(last.waiting_on) === String(waiting)) return;
      last.to = from;
      last.duration_ms = Math.max(0, ms(from) - ms(last.from));
    }
    segments.push({ state, from, ...(waiting === undefined ? {} : { waiting_on: waiting }) });
  };
  open('queued', run.created_at);
  if (run.started_at !== undefined) {
    open('running', run.started_at);
    for (const { event } of events) {
      if (event.type !== 'sub_session_heartbeat') continue;
      if (event.waiting_on !== undefined && event.waiting_on.length > 0) open('waiting', event.timestamp, event.waiting_on);
      else open('running', event.timestamp);
    }
  }
  if (run.ended_at !== undefined) {
    open(run.status, run.ended_at);
  } else {
    const last = segments.at(-1);
    if (last !== undefined) last.duration_ms = Math.max(0, now - ms(last.from));
  }
  return segments;
}
