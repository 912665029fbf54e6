import { METADATA_KEYS, type Session } from '../../machines/session.schema.js';

/** Bamboo's session summary (`GET /api/v1/sessions`). */
export interface BambooSessionSummary {
  id: string;
  kind: 'root' | 'child';
  title: string;
  pinned: boolean;
  parent_session_id: string | null;
  root_session_id: string;
  spawn_depth: number;
  model: string;
  created_at: string;
  updated_at: string;
  last_activity_at: string;
  message_count: number;
  has_attachments: boolean;
  is_running: boolean;
  last_run_status: string | null;
  last_run_error: string | null;
}

/**
 * A session as Bamboo's session list shows it. `is_running` is true while the child's run is
 * queued or running (`last_run_status` `pending` / `running`); `pinned` reads metadata `pinned`.
 *
 * @example
 * toBambooSummary(session); // { id, kind, title, pinned: false, parent_session_id: 'root', … }
 */
export function toBambooSummary(session: Session): BambooSessionSummary {
  const status = session.metadata[METADATA_KEYS.status];
  const lastMessage = session.messages.at(-1);
  const lastActivity =
    lastMessage !== undefined && lastMessage.created_at > session.updated_at ? lastMessage.created_at : session.updated_at;
  return {
    id: session.id,
    kind: session.kind,
    title: session.title,
    pinned: session.metadata.pinned === 'true',
    parent_session_id: session.parent_session_id ?? null,
    root_session_id: session.root_session_id,
    spawn_depth: session.spawn_depth,
    model: session.model,
    created_at: session.created_at,
    updated_at: session.updated_at,
    last_activity_at: lastActivity,
    message_count: session.messages.length,
    has_attachments: session.messages.some((message) => Array.isArray(message.attachments) && message.attachments.length > 0),
    is_running: status === 'pending' || status === 'running',
    last_run_status: status ?? null,
    last_run_error: session.metadata[METADATA_KEYS.error] ?? null,
  };
}
