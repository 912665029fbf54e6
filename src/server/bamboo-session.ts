import type { Session } from '../../machines/session.schema.js';
import type { SessionSummary } from '../api/session-summary.js';
import { summaryOf } from '../adapters/session-summaries.js';

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
  return toBambooListSummary(summaryOf(session), live);
}

/**
 * A session summary as Bamboo's list shows it: the same fields and rules as `toBambooSummary`
 * (which takes a whole session), from the summary's columns — `last_activity_at`,
 * `message_count`, `has_attachments` and the pending turn (a last `user` message named by
 * `bamboo_pending_turn`) are stored with the summary.
 *
 * @example
 * toBambooListSummary(summary, { runStatus: 'running', runningChildCount: 1, subagentCount: 2 });
 */
export function toBambooListSummary(summary: SessionSummary, live: BambooLiveState = {}): BambooSessionSummary {
  const stored = summary.metadata.last_run_status;
  const runStatus = live.runStatus ?? stored;
  const last = summary.last_message;
  const pendingTurn = last?.role === 'user' && summary.metadata[BAMBOO_METADATA_KEYS.pendingTurn] === last.id;
  const isRunning = isLiveStatus(runStatus);
  const status = isRunning ? toBambooRunStatus(runStatus) : pendingTurn ? 'pending' : toBambooRunStatus(runStatus);
  const error = summary.metadata.last_run_error;
  const titleVersion = Number(summary.metadata[BAMBOO_METADATA_KEYS.titleVersion] ?? '0');
  return {
    id: summary.id,
    project_id: null,
    kind: summary.kind,
    title: summary.title,
    title_version: Number.isFinite(titleVersion) ? titleVersion : 0,
    title_generated: false,
    pinned: summary.metadata[BAMBOO_METADATA_KEYS.pinned] === 'true',
    parent_session_id: summary.parent_session_id ?? null,
    root_session_id: summary.root_session_id,
    spawn_depth: summary.spawn_depth,
    model: summary.model,
    created_at: summary.created_at,
    updated_at: summary.updated_at,
    last_activity_at: summary.last_activity_at,
    message_count: summary.message_count,
    has_attachments: summary.has_attachments,
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
