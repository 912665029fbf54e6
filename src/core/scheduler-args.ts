import { z } from 'zod';
import { completionReasonSchema } from '../../machines/agent-event.events.js';
import { describeCause, spawnJobSchema } from '../../machines/spawn-job.events.js';
import { SproutValidationError } from '../errors.js';

/** A session id argument: a non-empty string. */
export const sessionIdSchema = z.string().min(1);

/** The job of `enqueue(job, { root: true })`: a root session's own run (`parentSessionId: ''`). */
export const rootEnqueueJobSchema = spawnJobSchema.extend({ parentSessionId: z.literal('') }).omit({ onParentEnd: true });

/** Most links `enqueue(job, { ancestors })` takes (deeper than any tree a scheduler forwards). */
export const MAX_ANCESTOR_LINKS = 256;

/** One link of `EnqueueOptions.ancestors`. */
export const ancestorLinkSchema = z.strictObject({
  sessionId: sessionIdSchema,
  parentSessionId: sessionIdSchema,
  runId: z.string().min(1).max(200),
});

/** The options of `enqueue(job, options?)`. */
export const enqueueOptionsSchema = z.strictObject({
  runId: z.string().min(1).max(200).optional(),
  title: z.string().max(10_000).optional(),
  root: z.boolean().optional(),
  ancestors: z.array(ancestorLinkSchema).max(MAX_ANCESTOR_LINKS).optional(),
});

/** Arguments of `events(sessionId, options?)`. */
export const eventsArgsSchema = z.object({
  sessionId: sessionIdSchema,
  options: z.strictObject({ afterSeq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).optional() }).optional(),
});

/** Arguments of `cancel(childSessionId, reason?)`. */
export const cancelArgsSchema = z.object({ childSessionId: sessionIdSchema, reason: completionReasonSchema });

/** Arguments of `waitForChildren(parentSessionId, options?)`. */
export const waitArgsSchema = z.object({
  parentSessionId: sessionIdSchema,
  options: z
    .strictObject({
      policy: z.enum(['all', 'any', 'first-error']).optional(),
      childSessionIds: z.array(sessionIdSchema).optional(),
    })
    .optional(),
});

/** What `run(sessionId, input)` takes: the user message to append, and optionally the model. */
export const runInputSchema = z.strictObject({
  message: z.string().min(1).max(1_000_000),
  model: z.string().min(1).max(200).optional(),
});
/** The input of `run`. */
export type RunInput = z.infer<typeof runInputSchema>;

/** Arguments of `stop(options?)`. */
export const stopArgsSchema = z.strictObject({ mode: z.enum(['drain', 'cancel']).optional() }).optional();

/**
 * Checks a method's arguments, the one way every scheduler method does it: anything that is not
 * what the schema says — including a value whose getter throws or a revoked Proxy — becomes a
 * {@link SproutValidationError} naming `subject`; never a raw TypeError.
 *
 * @example
 * const { sessionId } = parseArgs(eventsArgsSchema, { sessionId: id, options }, 'events() arguments');
 */
export function parseArgs<T>(schema: z.ZodType<T>, value: unknown, subject: string): T {
  let parsed: z.ZodSafeParseResult<T>;
  try {
    parsed = schema.safeParse(value);
  } catch (error) {
    const message = describeCause(error);
    throw new SproutValidationError(subject, [{ code: 'custom', path: [], message: `could not be read: ${message}`, input: undefined }]);
  }
  if (!parsed.success) throw new SproutValidationError(subject, parsed.error.issues);
  return parsed.data;
}
