import { toRfc3339 } from '../clock.js';
import type { RunRecord } from './run-ledger.js';
import type { ChildStatus } from '../api/scheduler-types.js';
import { summarize } from './wait-for-children.js';

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
