import type { Session } from '../../machines/session.schema.js';
import type { SpawnBrief } from '../../machines/spawn-job.events.js';

/** What {@link buildChildSession} needs besides the brief. */
export interface ChildSessionSeed {
  id: string;
  parent: Session;
  brief: SpawnBrief;
  now: string;
  newMessageId: () => string;
}

/** The system prompt of a child, from its brief. */
export function childSystemPrompt(brief: SpawnBrief): string {
  const role = brief.subagentType ? `You are a ${brief.subagentType} sub-agent` : 'You are a sub-agent';
  const lines = [`${role} working on "${brief.title}" for a parent agent session.`];
  if (brief.responsibility) lines.push(`Your responsibility: ${brief.responsibility}`);
  lines.push('Work on the task below and end with a concise final answer for the parent.');
  return lines.join('\n');
}

/**
 * A new child session for a brief: `kind: 'child'`, one level below its parent, a system and a
 * user message, `last_run_status: 'pending'`.
 *
 * @example
 * const child = buildChildSession({ id: 'c1', parent, brief: { title: 'Research', prompt: 'Find X' }, now, newMessageId });
 */
export function buildChildSession(seed: ChildSessionSeed): Session {
  const { parent, brief, now } = seed;
  const metadata: Record<string, string> = { last_run_status: 'pending' };
  if (brief.subagentType) metadata.subagent_type = brief.subagentType;
  if (brief.responsibility) metadata.responsibility = brief.responsibility;
  return {
    id: seed.id,
    title: brief.title,
    kind: 'child',
    parent_session_id: parent.id,
    root_session_id: parent.root_session_id || parent.id,
    spawn_depth: parent.spawn_depth + 1,
    model: brief.model ?? parent.model,
    messages: [
      { id: seed.newMessageId(), role: 'system', content: childSystemPrompt(brief), created_at: now },
      { id: seed.newMessageId(), role: 'user', content: brief.prompt, created_at: now },
    ],
    metadata,
    created_at: now,
    updated_at: now,
  };
}
