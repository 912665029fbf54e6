import type { Session } from '../../machines/session.schema.js';
import type { AgentRuntime, ExecuteRequest } from '../api/ports.js';
import { toRfc3339, type SproutClock } from '../clock.js';
import { scriptedAgent, type ScriptStep } from '../testing/scripted-agent.js';

/** The user prompt of a child (its last user message). */
const promptOf = (session: Session): string =>
  [...session.messages].reverse().find((message) => message.role === 'user')?.content ?? session.title;

/** A small deterministic hash, so the same prompt gives the same script. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** The three children a root's demo run spawns: one answers, one fails, one runs a minute-long tool (stop it from the UI). */
const TEAM = [
  { title: 'Survey sources', task: 'Find sources about' },
  { title: 'Check the numbers', task: '[fail] Check the figures of' },
  { title: 'Deep dive', task: '[slow] Read everything about' },
] as const;

/**
 * The scripted agent `sprout serve` (and `sprout worker`) runs when no model is configured.
 *
 * - A **child** reasons a little, calls one tool, pauses, and streams a short answer — about two
 *   seconds in all on the real clock, derived from its prompt (same prompt, same script). A prompt
 *   containing `[fail]` ends in error; one containing `[slow]` calls a tool that lasts a minute
 *   (to try cancel).
 * - A **root** (a message sent to a session with no parent, e.g. Bamboo's `POST /api/v1/chat`)
 *   plans aloud, spawns three children — `Survey sources` (answers), `Check the numbers` (fails)
 *   and `Deep dive` (a minute-long tool: stop it from the UI) — waits for them with its slot given
 *   back, and answers with their outcomes. A message containing `[solo]` is answered by the root
 *   alone, as a child would be.
 *
 * @example
 * const agent = serveDemoAgent(systemClock);
 */
export function serveDemoAgent(clock: SproutClock, { speed = 1 }: { speed?: number } = {}): AgentRuntime {
  const ms = (value: number): number => Math.max(1, Math.round(value * speed));
  const script = (session: Session): ScriptStep[] => {
    const prompt = promptOf(session);
    const h = hash(prompt);
    const steps: ScriptStep[] = [
      { tokens: `Thinking about "${session.title}". `, every: ms(40 + (h % 40)), reasoning: true },
      {
        tool: {
          name: 'web_search',
          args: { q: session.title },
          result: `${3 + (h % 5)} results`,
          duration: prompt.includes('[slow]') ? ms(60_000) : ms(300 + (h % 400)),
        },
      },
      { wait: ms(150 + (h % 200)) },
    ];
    if (prompt.includes('[fail]')) steps.push({ fail: 'upstream API returned HTTP 503 (simulated failure)' });
    else steps.push({ tokens: `Summary of ${session.title}: ${3 + (h % 5)} sources agree.`, every: ms(30 + (h % 30)) });
    return steps;
  };
  const single = scriptedAgent({
    clock,
    script,
    answer: (session) =>
      promptOf(session).includes('[fail]') ? null : `Summary of ${session.title}: ${3 + (hash(promptOf(session)) % 5)} sources agree.`,
  });
  const team = async (session: Session, request: ExecuteRequest): Promise<void> => {
    const spawner = request.spawner!;
    const topic = promptOf(session).slice(0, 200);
    const plan = `Splitting "${topic}" into ${TEAM.length} tasks. `;
    for (const part of plan.split(/(?<=\s)/)) request.emit({ type: 'reasoning_token', content: part });
    const titles = new Map<string, string>();
    for (const { title, task } of TEAM) {
      request.signal.throwIfAborted();
      const { childSessionId } = await spawner.spawnChild(session.id, { title, prompt: `${task} ${topic}` });
      titles.set(childSessionId, title);
    }
    let stop = (): void => undefined;
    const aborted = new Promise<never>((_, reject) => {
      stop = () => reject(request.signal.reason instanceof Error ? request.signal.reason : new Error('aborted'));
      if (request.signal.aborted) stop();
      else request.signal.addEventListener('abort', stop, { once: true });
    });
    aborted.catch(() => undefined);
    const ended = await Promise.race([spawner.waitForChildren(session.id, { childSessionIds: [...titles.keys()] }), aborted]).finally(() =>
      request.signal.removeEventListener('abort', stop),
    );
    const outcomes = ended.map((run) => `${titles.get(run.childSessionId) ?? run.childSessionId}: ${run.status}`).join('; ');
    const answer = `${ended.filter((run) => run.status === 'completed').length} of ${ended.length} tasks finished (${outcomes}).`;
    for (const part of answer.split(/(?<=\s)/)) request.emit({ type: 'token', content: part });
    session.messages.push({
      id: `demo-${session.id}-${session.messages.length + 1}`,
      role: 'assistant',
      content: answer,
      created_at: toRfc3339(clock.now()),
    });
  };
  return {
    execute(session, request) {
      const asTeam = session.kind === 'root' && request.spawner !== undefined && !promptOf(session).includes('[solo]');
      return asTeam ? team(session, request) : single.execute(session, request);
    },
  };
}
