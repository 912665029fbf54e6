/**
 * What every store's `listSummaries` shares: the summary columns a save writes, the query check,
 * the opaque keyset cursor, and building a {@link SessionSummary} from stored columns.
 */
import { z } from 'zod';
import { runStatusMetadataSchema, sessionKindSchema, type Session } from '../../machines/session.schema.js';
import { MAX_SESSION_SUMMARY_PAGE } from '../api/session-summary.js';
import type {
  SessionSummary,
  SessionSummaryFilter,
  SessionSummaryMessage,
  SessionSummaryOrder,
  SessionSummaryPage,
  SessionSummaryQuery,
} from '../api/session-summary.js';
import { SproutValidationError } from '../errors.js';
import { hasNoNul, NUL_MESSAGE } from '../well-formed-text.js';

/**
 * The summary columns of a session, as a save writes them next to the session itself.
 *
 * @example
 * const columns = summaryColumnsOf(session); // { title, model, metadata, message_count, … }
 */
export interface SummaryColumns {
  title: string;
  model: string;
  metadata: Record<string, string>;
  message_count: number;
  last_message_id: string | null;
  last_message_role: string | null;
  last_message_at: string | null;
  has_attachments: boolean;
  last_activity_at: string;
}

/**
 * The summary columns of `session` (its messages counted, the last one and attachments noted).
 *
 * @example
 * const { message_count, last_activity_at } = summaryColumnsOf(session);
 */
export function summaryColumnsOf(session: Session): SummaryColumns {
  const last = session.messages.at(-1);
  return {
    title: session.title,
    model: session.model,
    metadata: session.metadata,
    message_count: session.messages.length,
    last_message_id: last?.id ?? null,
    last_message_role: last?.role ?? null,
    last_message_at: last?.created_at ?? null,
    has_attachments: session.messages.some((message) => Array.isArray(message.attachments) && message.attachments.length > 0),
    last_activity_at: last !== undefined && last.created_at > session.updated_at ? last.created_at : session.updated_at,
  };
}

/**
 * A stored row of summary columns (the session's own columns plus {@link SummaryColumns}), as the
 * SQL adapters read it.
 *
 * @example
 * const summary = summaryFromRow({ ...row, metadata: JSON.parse(row.metadata) });
 */
export interface SummaryRow extends Omit<SummaryColumns, 'has_attachments'> {
  id: string;
  kind: string;
  parent_session_id: string | null;
  root_session_id: string;
  spawn_depth: number;
  created_at: string;
  updated_at: string;
  version: number;
  has_attachments: boolean | number;
}

const storedMessageRole = z.enum(['system', 'user', 'assistant', 'tool']);

/**
 * The {@link SessionSummary} of a stored row. Undefined optional fields are left out.
 *
 * @example
 * const items = rows.map(summaryFromRow);
 */
export function summaryFromRow(row: SummaryRow): SessionSummary {
  const kind = sessionKindSchema.safeParse(row.kind);
  const role = storedMessageRole.safeParse(row.last_message_role);
  const lastMessage: SessionSummaryMessage | undefined =
    row.last_message_id === null || !role.success
      ? undefined
      : { id: row.last_message_id, role: role.data, created_at: row.last_message_at ?? '' };
  const metadata = row.metadata;
  return {
    id: row.id,
    title: row.title,
    kind: kind.success ? kind.data : 'child',
    ...(row.parent_session_id === null ? {} : { parent_session_id: row.parent_session_id }),
    root_session_id: row.root_session_id,
    spawn_depth: row.spawn_depth,
    model: row.model,
    metadata,
    created_at: row.created_at,
    updated_at: row.updated_at,
    version: row.version,
    message_count: row.message_count,
    ...(lastMessage === undefined ? {} : { last_message: lastMessage }),
    last_activity_at: row.last_activity_at,
    has_attachments: row.has_attachments === true || row.has_attachments === 1,
    ...(metadata.last_run_status === undefined ? {} : { last_run_status: metadata.last_run_status }),
    ...(metadata.last_run_id === undefined ? {} : { last_run_id: metadata.last_run_id }),
    ...(metadata.last_run_error === undefined ? {} : { last_run_error: metadata.last_run_error }),
  };
}

/**
 * A checked {@link SessionSummaryQuery}: the filter, the order, and where the page starts
 * (`after`: the sort keys of the previous page's last summary, from the cursor).
 *
 * @example
 * const { filter, order, limit, after } = parseSummaryQuery(query);
 */
export interface ParsedSummaryQuery {
  filter: SessionSummaryFilter;
  order: SessionSummaryOrder;
  limit: number;
  offset: number;
  after: readonly string[] | undefined;
}

const idSchema = z.string().min(1).max(1000).refine(hasNoNul, NUL_MESSAGE);
const filterSchema = z.object({
  parent: idSchema.optional(),
  root: idSchema.optional(),
  kind: sessionKindSchema.optional(),
  status: runStatusMetadataSchema.optional(),
});
const querySchema = filterSchema.extend({
  limit: z.number().int().min(1).max(MAX_SESSION_SUMMARY_PAGE),
  order: z.enum(['created', 'recent']).optional(),
  cursor: z.string().max(4000).optional(),
  offset: z.number().int().min(0).optional(),
});
const cursorSchema = z.strictObject({ o: z.enum(['created', 'recent']), k: z.array(z.string().refine(hasNoNul, NUL_MESSAGE)) });

/** How many sort keys each order's cursor holds. */
const KEY_COUNT: Record<SessionSummaryOrder, number> = { created: 2, recent: 3 };

/**
 * Checks a filter; throws {@link SproutValidationError} (subject `session summary filter`).
 *
 * @example
 * const filter = parseSummaryFilter({ kind: 'root' });
 */
export function parseSummaryFilter(filter: SessionSummaryFilter): SessionSummaryFilter {
  const parsed = filterSchema.safeParse(filter);
  if (!parsed.success) throw new SproutValidationError('session summary filter', parsed.error.issues);
  return stripUndefined(parsed.data);
}

/**
 * Checks a query and decodes its cursor; throws {@link SproutValidationError} (subject
 * `session summary query`) for a bad limit, a bad or foreign cursor, or a cursor with an offset.
 *
 * @example
 * const parsed = parseSummaryQuery({ kind: 'root', limit: 50, cursor });
 */
export function parseSummaryQuery(query: SessionSummaryQuery): ParsedSummaryQuery {
  const parsed = querySchema.safeParse(query);
  if (!parsed.success) throw new SproutValidationError('session summary query', parsed.error.issues);
  const { limit, order = 'created', cursor, offset, ...filter } = parsed.data;
  if (cursor !== undefined && offset !== undefined && offset > 0) throw invalidQuery('cursor', 'give a cursor or an offset, not both');
  return {
    filter: stripUndefined(filter),
    order,
    limit,
    offset: offset ?? 0,
    after: cursor === undefined ? undefined : decodeCursor(cursor, order),
  };
}

/**
 * The sort keys of a summary in `order` (what a cursor holds and what pages compare).
 *
 * @example
 * summaryKeys('created', summary); // [created_at, id]
 */
export function summaryKeys(order: SessionSummaryOrder, summary: Pick<SessionSummary, 'id' | 'created_at' | 'last_activity_at'>): string[] {
  return order === 'created' ? [summary.created_at, summary.id] : [summary.last_activity_at, summary.created_at, summary.id];
}

/**
 * The opaque cursor (base64url JSON) of the page after `last`.
 *
 * @example
 * const nextCursor = encodeSummaryCursor('created', items.at(-1)!);
 */
export function encodeSummaryCursor(
  order: SessionSummaryOrder,
  last: Pick<SessionSummary, 'id' | 'created_at' | 'last_activity_at'>,
): string {
  return Buffer.from(JSON.stringify({ o: order, k: summaryKeys(order, last) })).toString('base64url');
}

/**
 * A page of `summaries` (all candidates, any order) for a checked query: filtered, sorted, after
 * the cursor, from the offset — the memory store's listing, and the server's for stores that
 * cannot list. The summaries are returned as given (copy them first if they are stored).
 *
 * @example
 * const page = pageOfSummaries(known, parseSummaryQuery({ kind: 'root', limit: 50 }));
 */
export function pageOfSummaries(summaries: Iterable<SessionSummary>, query: ParsedSummaryQuery): SessionSummaryPage {
  const { order, limit, offset, after } = query;
  const matching = filterSummaries(summaries, query.filter)
    .filter((summary) => after === undefined || isAfter(order, summary, after))
    .sort(compareSummaries(order));
  const items = matching.slice(offset, offset + limit);
  const last = items.at(-1);
  return { items, ...(offset + limit < matching.length && last !== undefined ? { nextCursor: encodeSummaryCursor(order, last) } : {}) };
}

/**
 * The summaries that match `filter` (every field given).
 *
 * @example
 * filterSummaries(known, { kind: 'root' }).length;
 */
export function filterSummaries(summaries: Iterable<SessionSummary>, filter: SessionSummaryFilter): SessionSummary[] {
  const out: SessionSummary[] = [];
  for (const summary of summaries) {
    if (filter.parent !== undefined && summary.parent_session_id !== filter.parent) continue;
    if (filter.root !== undefined && summary.root_session_id !== filter.root) continue;
    if (filter.kind !== undefined && summary.kind !== filter.kind) continue;
    if (filter.status !== undefined && summary.last_run_status !== filter.status) continue;
    out.push(summary);
  }
  return out;
}

/**
 * The summary of a whole session (its messages counted, never copied; metadata copied).
 *
 * @example
 * const summary = summaryOf(await store.load('c1'));
 */
export function summaryOf(session: Session): SessionSummary {
  const columns = summaryColumnsOf(session);
  return summaryFromRow({
    ...columns,
    metadata: { ...columns.metadata },
    id: session.id,
    kind: session.kind,
    parent_session_id: session.parent_session_id ?? null,
    root_session_id: session.root_session_id,
    spawn_depth: session.spawn_depth,
    created_at: session.created_at,
    updated_at: session.updated_at,
    version: session.version ?? 1,
  });
}

/**
 * Orders summaries as `order` does (the memory store's sort): ascending or descending by the
 * sort keys, comparing code units as the SQL stores compare bytes for ASCII text.
 *
 * @example
 * summaries.sort(compareSummaries('recent'));
 */
export function compareSummaries(order: SessionSummaryOrder): (a: SessionSummary, b: SessionSummary) => number {
  const sign = order === 'created' ? 1 : -1;
  return (a, b) => sign * compareKeys(summaryKeys(order, a), summaryKeys(order, b));
}

/**
 * Whether `summary` comes after the cursor's keys in `order` (it belongs on the next page).
 *
 * @example
 * const page = sorted.filter((s) => isAfter('created', s, after));
 */
export function isAfter(order: SessionSummaryOrder, summary: SessionSummary, after: readonly string[]): boolean {
  const compared = compareKeys(summaryKeys(order, summary), after);
  return order === 'created' ? compared > 0 : compared < 0;
}

function compareKeys(a: readonly string[], b: readonly string[]): number {
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? '';
    const y = b[i] ?? '';
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function decodeCursor(cursor: string, order: SessionSummaryOrder): readonly string[] {
  if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw invalidQuery('cursor', 'not a cursor returned by this listing');
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidQuery('cursor', 'not a cursor returned by this listing');
  }
  const parsed = cursorSchema.safeParse(value);
  if (!parsed.success || parsed.data.k.length !== KEY_COUNT[parsed.data.o])
    throw invalidQuery('cursor', 'not a cursor returned by this listing');
  if (parsed.data.o !== order) throw invalidQuery('cursor', `the cursor is for order ${parsed.data.o}, not ${order}`);
  return parsed.data.k;
}

function invalidQuery(field: string, message: string): SproutValidationError {
  return new SproutValidationError('session summary query', [{ code: 'custom', path: [field], message }]);
}

function stripUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
