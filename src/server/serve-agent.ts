import type { Session } from '../../machines/session.schema.js';
import type { SproutClock } from '../clock.js';
import { scriptedAgent, type ScriptedAgent, type ScriptStep } from '../testing/scripted-agent.js';

/** The user prompt of a child (its last user message). */
const promptOf = (session: Session): string =>
  [...session.messages].reverse().find((message) => message.role === 'user')?.content ?? session.title;

/** A small deterministic hash, so the same prompt gives the same script. */
function hash(text: string): number {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}

/**
 * The scripted agent `sprout serve` runs when no model is configured: each child reasons a
 * little, calls one tool, pauses, and streams a short answer — about two seconds in all on the
 * real clock, derived from its prompt (same prompt, same script). A prompt containing `[fail]`
 * ends in error; one containing `[slow]` calls a tool that lasts a minute (to try cancel).
 *
 * @example
 * const agent = serveDemoAgent(systemClock);
 */
export function serveDemoAgent(clock: SproutClock, { speed = 1 }: { speed?: number } = {}): ScriptedAgent {
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
  return scriptedAgent({
    clock,
    script,
    answer: (session) =>
      promptOf(session).includes('[fail]') ? null : `Summary of ${session.title}: ${3 + (hash(promptOf(session)) % 5)} sources agree.`,
  });
}
