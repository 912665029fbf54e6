import type { Session } from '../../machines/session.schema.js';
import type { SessionStore } from '../api/ports.js';
import type { DemoPlan } from './demo-plan.js';

/**
 * The demo's parent session: a root with the plan's request as its user message.
 *
 * @example
 * await store.save(buildDemoRoot(plan, rootId, toRfc3339(Date.now())));
 */
export function buildDemoRoot(plan: DemoPlan, id: string, now: string): Session {
  return {
    id,
    title: plan.rootTitle,
    kind: 'root',
    root_session_id: id,
    spawn_depth: 0,
    model: 'scripted-demo-model',
    messages: [{ id: `${id}-user-1`, role: 'user', content: plan.rootPrompt, created_at: now }],
    metadata: {},
    created_at: now,
    updated_at: now,
  };
}

/**
 * Deletes a session and all its descendants, deepest first; resolves with how many were
 * deleted. The demo uses it to replace an earlier run with the same seed (whose ids it reuses).
 *
 * @example
 * const removed = await removeSessionTree(store, rootId);
 */
export async function removeSessionTree(store: SessionStore, id: string): Promise<number> {
  let removed = 0;
  const visit = async (sessionId: string): Promise<void> => {
    for (const child of await store.listChildren(sessionId)) await visit(child.id);
    if (await store.delete(sessionId)) removed += 1;
  };
  await visit(id);
  return removed;
}
