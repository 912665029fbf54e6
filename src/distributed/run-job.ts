import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** What a BullMQ job of the run queue carries. The job id is the run id. */
export const runJobSchema = z.object({
  runId: z.string().min(1),
  /** The parent session, or '' for a root's own run. */
  parentSessionId: z.string(),
  childSessionId: z.string().min(1),
  model: z.string().min(1),
  title: z.string().optional(),
  /**
   * The W3C `traceparent` of the span active when the front door queued the run (absent without
   * an OpenTelemetry SDK): a worker runs the job in `contextOfTraceparent(traceparent)` so the
   * run's spans continue that trace.
   */
  traceparent: z.string().max(64).optional(),
});

/** One run as the queue holds it. */
export type RunJobData = z.infer<typeof runJobSchema>;

/** The BullMQ name of run jobs. */
export const RUN_JOB_NAME = 'run';

/**
 * How run jobs are added. A processor never fails a run on purpose (it delays it), so attempts
 * and the backoff only matter when Redis itself refused to delay it. Finished jobs are kept an
 * hour (at most 100,000 of them), so that adding the same run again after a worker died halfway
 * through a requeue is a no-op, while Redis memory stays bounded.
 */
export const RUN_JOB_OPTIONS: JobsOptions = {
  attempts: 1000,
  backoff: { type: 'sprout' },
  removeOnComplete: { age: 3600, count: 100_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** The backoff of a run job whose processor failed (`backoff: { type: 'sprout' }`): 0.5 s doubling to 30 s. */
export function runBackoffMs(attempts: number): number {
  return Math.min(30_000, 500 * 2 ** Math.min(Math.max(0, attempts - 1), 6));
}
