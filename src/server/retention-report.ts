/**
 * What one retention pass did.
 *
 * @example
 * const report: RetentionReport = { cutoff: '2026-01-01T00:00:00.000Z', roots: 1, sessions: 4, kept: 2, scanned: 3, failed: 0 };
 */
export interface RetentionReport {
  /** Trees whose last activity is before this (RFC 3339 UTC) were due. */
  cutoff: string;
  /** Root trees deleted. */
  roots: number;
  /** Sessions deleted (roots and their descendants). */
  sessions: number;
  /** Due roots kept because a run in their tree is queued or running, or a session in it was active since the cutoff. */
  kept: number;
  /** Roots looked at (created before the cutoff). */
  scanned: number;
  /** Trees whose deletion failed (each error went to `onError`). */
  failed: number;
}
