/**
 * What every run index shares: the query check, the opaque keyset cursor (a run's `position`,
 * the order it was announced in) and building a {@link RunRecord} from stored columns.
 */
import { z } from 'zod';
import { MAX_RUN_PAGE, type RunFilter, type RunIndexStatus, type RunQuery, type RunRecord } from '../api/run-index.js';
import { SproutValidationError } from '../errors.js';
import { hasNoNul, NUL_MESSAGE } from '../well-formed-text.js';

/** The run statuses an index knows. */
export const runIndexStatusSchema = z.enum(['queued', 'running', 'completed', 'error', 'cancelled', 'skipped']);

const text = z.string().min(1).max(1000).refine(hasNoNul, NUL_MESSAGE);
const instant = z.iso.datetime({ offset: true }).transform((value) => new Date(value).toISOString());

/** Schema of a {@link RunFilter}; instants are normalised to UTC milliseconds (`…Z`). */
export const runFilterSchema = z.strictObject({
  status: z.array(runIndexStatusSchema).min(1).max(6).optional(),
  reason: text.optional(),
  root: text.optional(),
  parent: text.optional(),
  child: text.optional(),
  model: text.optional(),
  since: instant.optional(),
  until: instant.optional(),
  q: z.string().min(1).max(200).refine(hasNoNul, NUL_MESSAGE).optional(),
});

const querySchema = runFilterSchema.extend({
  limit: z.number().int().min(1).max(MAX_RUN_PAGE),
  cursor: z.string().max(64).optional(),
});

/**
 * A checked {@link RunQuery}: the filter (undefined fields dropped), the page size and the
 * position to continue below (newest first).
 */
export interface ParsedRunQuery {
  filter: RunFilter;
  limit: number;
  /** Only runs with a smaller position (from the cursor). */
  before?: number | undefined;
}

const CURSOR_PREFIX = 'run1.';

/**
 * The cursor that continues after the run at `position`.
 *
 * @example
 * encodeRunCursor(42); // 'run1.42'
 */
export function encodeRunCursor(position: number): string {
  return `${CURSOR_PREFIX}${position}`;
}

/**
 * Checks a query; throws {@link SproutValidationError} (subject `run query`) when it is invalid.
 *
 * @example
 * const { filter, limit, before } = parseRunQuery({ status: ['error'], limit: 50 });
 */
export function parseRunQuery(query: RunQuery): ParsedRunQuery {
  const defined = Object.fromEntries(Object.entries(query).filter(([, value]) => value !== undefined));
  const parsed = querySchema.safeParse(defined);
  if (!parsed.success) throw new SproutValidationError('run query', parsed.error.issues);
  const { limit, cursor, ...filter } = parsed.data;
  let before: number | undefined;
  if (cursor !== undefined) {
    const position = cursor.startsWith(CURSOR_PREFIX) ? Number(cursor.slice(CURSOR_PREFIX.length)) : Number.NaN;
    if (!Number.isSafeInteger(position) || position < 0) {
      throw new SproutValidationError('run query', [{ code: 'custom', path: ['cursor'], message: 'not a cursor of this run index' }]);
    }
    before = position;
  }
  return { filter, limit, before };
}

/**
 * A stored row of the `runs` table (both SQL adapters use these column names).
 */
export interface RunRow {
  position: number | string;
  run_id: string;
  parent_session_id: string;
  child_session_id: string;
  root_session_id: string;
  title: string | null;
  model: string | null;
  status: string;
  reason: string | null;
  error: string | null;
  created_at: string | Date;
  started_at: string | Date | null;
  ended_at: string | Date | null;
  prompt_tokens: number | string | null;
  completion_tokens: number | string | null;
  total_tokens: number | string | null;
  started_seq: number | string;
  ended_seq: number | string | null;
}

/** The columns a run is read from, in {@link RunRow}'s order. */
export const RUN_COLUMNS =
  'position, run_id, parent_session_id, child_session_id, root_session_id, title, model, status, reason, error, created_at, started_at, ended_at, prompt_tokens, completion_tokens, total_tokens, started_seq, ended_seq';

const iso = (value: string | Date): string => (value instanceof Date ? value.toISOString() : value);

/**
 * The {@link RunRecord} of a stored row (null columns left out).
 *
 * @example
 * const run = runFromRow(row);
 */
export function runFromRow(row: RunRow): RunRecord {
  const run: RunRecord = {
    run_id: row.run_id,
    parent_session_id: row.parent_session_id,
    child_session_id: row.child_session_id,
    root_session_id: row.root_session_id,
    status: row.status as RunIndexStatus,
    created_at: iso(row.created_at),
    started_seq: Number(row.started_seq),
  };
  if (row.title !== null) run.title = row.title;
  if (row.model !== null) run.model = row.model;
  if (row.reason !== null) run.reason = row.reason;
  if (row.error !== null) run.error = row.error;
  if (row.started_at !== null) run.started_at = iso(row.started_at);
  if (row.ended_at !== null) run.ended_at = iso(row.ended_at);
  if (row.prompt_tokens !== null) run.prompt_tokens = Number(row.prompt_tokens);
  if (row.completion_tokens !== null) run.completion_tokens = Number(row.completion_tokens);
  if (row.total_tokens !== null) run.total_tokens = Number(row.total_tokens);
  if (row.ended_seq !== null) run.ended_seq = Number(row.ended_seq);
  return run;
}

/**
 * Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
 *
 * @example
 * likePattern('50%'); // '%50\%%'
 */
export function likePattern(value: string): string {
  return `%${value.replace(/[\\%_]/g, (char) => `\\${char}`)}%`;
}
