import type { LiveRunStatus } from '../../machines/run-status.js';
import { METADATA_KEYS, runStatusMetadataSchema, type Session } from '../../machines/session.schema.js';
import { finalAnswerOf } from '../../machines/spawn-job.machine.js';
import type { ChildStatus } from '../api/scheduler-types.js';

const metadataToStatus = (value: string | undefined): LiveRunStatus | undefined => {
  const parsed = runStatusMetadataSchema.safeParse(value);
  if (!parsed.success) return undefined;
  return parsed.data === 'pending' ? 'queued' : parsed.data;
};

/**
 * A child's status from its stored session alone (when the scheduler no longer holds its run):
 * `last_run_status` (`pending` reads as `queued`), `last_run_id`, `last_run_error`, and its
 * final answer.
 *
 * @example
 * childSummaryFromSession(session); // { childSessionId, runId, status: 'completed', result: '…', … }
 */
export function childSummaryFromSession(session: Session): ChildStatus {
  const status = metadataToStatus(session.metadata[METADATA_KEYS.status]) ?? 'queued';
  const summary: ChildStatus = {
    childSessionId: session.id,
    parentSessionId: session.parent_session_id ?? '',
    runId: session.metadata[METADATA_KEYS.runId] ?? '',
    status,
    title: session.title,
    eventsSeen: 0,
  };
  const error = session.metadata[METADATA_KEYS.error];
  if (error !== undefined) summary.error = error;
  if (status === 'completed') {
    const result = finalAnswerOf(session);
    if (result !== undefined) summary.result = result;
  }
  return summary;
}
