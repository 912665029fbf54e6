import { METADATA_KEYS, runStatusMetadataSchema, type Session } from '../../machines/session.schema.js';
import { finalAnswerOf } from '../../machines/spawn-job.machine.js';
import { toRfc3339 } from '../clock.js';
import type { RunRecord, RunStatus } from './run-ledger.js';
import type { ChildStatus } from '../api/scheduler-types.js';
import { summarize } from './wait-for-children.js';

const metadataToStatus = (value: string | undefined): RunStatus | undefined => {
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

/**
 * A child's status from its registry record, with live counts from its tracker while it runs.
 *
 * @example
 * childStatusFromRecord(getRun(registry, 'c1')!, trackers.get(runId));
 */
export function childStatusFromRecord(record: RunRecord, live?: { eventsSeen: number; lastEventAt: number | undefined }): ChildStatus {
  const status: ChildStatus = {
    ...summarize(record),
    parentSessionId: record.parentSessionId,
    enqueuedAt: toRfc3339(record.enqueuedAt),
    eventsSeen: live?.eventsSeen ?? record.eventsSeen,
  };
  if (record.reason !== undefined) status.reason = record.reason;
  if (record.title !== undefined) status.title = record.title;
  if (record.startedAt !== undefined) status.startedAt = toRfc3339(record.startedAt);
  if (record.endedAt !== undefined) status.endedAt = toRfc3339(record.endedAt);
  const lastEventAt = live?.lastEventAt ?? record.lastEventAt;
  if (lastEventAt !== undefined) status.lastEventAt = toRfc3339(lastEventAt);
  return status;
}
