import { METADATA_KEYS, type Session } from '../../machines/session.schema.js';

/**
 * Metadata keys the Bamboo API writes on a session (values are strings, like all metadata).
 *
 * @example
 * session.metadata[BAMBOO_METADATA_KEYS.pinned] = 'true';
 */
export const BAMBOO_METADATA_KEYS = {
  /** `'true'` when the session is pinned. */
  pinned: 'pinned',
  /** Bumped on every title change (`PATCH /api/v1/sessions/{id}`). */
  titleVersion: 'title_version',
  /** Id of a user message waiting for `POST /api/v1/execute/{id}` (set by a truncate). */
  pendingTurn: 'bamboo_pending_turn',
} as const;

/**
 * Bamboo's `last_run_status` words.
 *
 * @example
 * const status: BambooRunStatus = 'running';
 */
export type BambooRunStatus = 'pending' | 'running' | 'completed' | 'error' | 'cancelled';

/**
 * Bamboo's session summary (`GET /api/v1/sessions`), the fields both Bamboo UIs read.
 *
 * @example
 * const summary: BambooSessionSummary = toBambooSummary(session);
 */
export interface BambooSessionSummary {
  id: string;
  project_id: null;
  kind: 'root' | 'child';
  title: string;
  title_version: number;
  title_generated: boolean;
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
  last_run_status?: BambooRunStatus;
  last_run_error?: string;
  has_pending_question: false;
  running_child_count: number;
  subagent_count: number;
  bypass_permissions: false;
  permission_mode: 'default';
  placement: { kind: 'local'; host: string };
}

/**
 * What the scheduler knows about a session right now (see `bambooLiveStates`).
 *
 * @example
 * const live: BambooLiveState = { runStatus: 'running', runningChildCount: 0, subagentCount: 0 };
 */
export interface BambooLiveState {
  /** The session's own latest run, as `scheduler.getChild` reports it. */
  runStatus?: string | undefined;
  /** Children whose run is queued or running. @default 0 */
  runningChildCount?: number;
  /** Children in all. @default 0 */
  subagentCount?: number;
}

/**
 * True for a run status that means "still going" (`queued` / `running`, or `pending` in metadata).
 *
 * @example
 * isLiveStatus('queued'); // true
 */
export function isLiveStatus(status: string | undefined): boolean {
  return status === 'queued' || status === 'running' || status === 'pending';
}

/**
 * Sprout's run status word as Bamboo's `last_run_status` (`queued` → `pending`, `skipped` → `cancelled`).
 *
 * @example
 * toBambooRunStatus('queued'); // 'pending'
 */
export function toBambooRunStatus(status: string | undefined): BambooRunStatus | undefined {
  switch (status) {
    case 'queued':
    case 'pending':
      return 'pending';
    case 'running':
    case 'completed':
    case 'error':
    case 'cancelled':
      return status;
    case 'skipped':
      return 'cancelled';
    default:
      return undefined;
  }
}

/**
 * A session as Bamboo's session list shows it. `is_running` is true while the session's own run
 * is queued or running (`live.runStatus`, else the stored `last_run_status`); a user turn left
 * by a truncate reads `last_run_status: 'pending'`; `pinned` and `title_version` come from
 * metadata. Optional fields are left out when empty, as Bamboo does.
 *
 * @example
 * toBambooSummary(session, { runStatus: 'running', runningChildCount: 1, subagentCount: 2 });
 * // { id, kind: 'root', is_running: true, last_run_status: 'running', running_child_count: 1, … }
 */
export function toBambooSummary(session: Session, live: BambooLiveState = {}): BambooSessionSummary {
  const stored = session.metadata[METADATA_KEYS.status];
  const runStatus = live.runStatus ?? stored;
  const lastMessage = session.messages.at(-1);
  const lastActivity =
    lastMessage !== undefined && lastMessage.created_at > session.updated_at ? lastMessage.created_at : session.updated_at;
  const pendingTurn = lastMessage?.role === 'user' && session.metadata[BAMBOO_METADATA_KEYS.pendingTurn] === lastMessage.id;
  const isRunning = isLiveStatus(runStatus);
  const status = isRunning ? toBambooRunStatus(runStatus) : pendingTurn ? 'pending' : toBambooRunStatus(runStatus);
  const error = session.metadata[METADATA_KEYS.error];
  const titleVersion = Number(session.metadata[BAMBOO_METADATA_KEYS.titleVersion] ?? '0');
  return {
    id: session.id,
    project_id: null,
    kind: session.kind,
    title: session.title,
    title_version: Number.isFinite(titleVersion) ? titleVersion : 0,
    title_generated: false,
    pinned: session.metadata[BAMBOO_METADATA_KEYS.pinned] === 'true',
    parent_session_id: session.parent_session_id ?? null,
    root_session_id: session.root_session_id,
    spawn_depth: session.spawn_depth,
    model: session.model,
    created_at: session.created_at,
    updated_at: session.updated_at,
    last_activity_at: lastActivity,
    message_count: session.messages.length,
    has_attachments: session.messages.some((message) => Array.isArray(message.attachments) && message.attachments.length > 0),
    is_running: isRunning,
    ...(status === undefined ? {} : { last_run_status: status }),
    ...(error === undefined || status !== 'error' ? {} : { last_run_error: error }),
    has_pending_question: false,
    running_child_count: live.runningChildCount ?? 0,
    subagent_count: live.subagentCount ?? 0,
    bypass_permissions: false,
    permission_mode: 'default',
    placement: { kind: 'local', host: 'localhost' },
  };
}
