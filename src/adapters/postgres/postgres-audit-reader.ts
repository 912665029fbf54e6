import pg from 'pg';
import type { AuditEventRow, AuditLedgerRun } from '../../audit/event-log-audit.js';
import { StoreUnavailableError } from '../../errors.js';
import { isPostgresConnectionError } from './postgres-database.js';
import { quoteSchema, validatePostgresSchemaName } from './postgres-schema.js';

/** Rows fetched per round trip from the server-side cursor. */
const PAGE = 5000;

/** Options of {@link openPostgresAuditReader}. */
export interface PostgresAuditReaderOptions {
  /** `postgres://…` of the deployment's database. */
  connectionString: string;
  /** The deployment's schema (`--prefix`). @default 'sprout' */
  schema?: string;
}

/** What {@link openPostgresAuditReader} reads, all in one `REPEATABLE READ READ ONLY` transaction (one snapshot). */
export interface PostgresAuditReader {
  /** The run ledger (`open_runs`). */
  ledger(): Promise<AuditLedgerRun[]>;
  /** Every event in `(session_id, seq)` order, a page at a time from a server-side cursor. */
  pages(): AsyncIterableIterator<AuditEventRow[]>;
  /** Of these child sessions, the ones spawned with `onParentEnd: 'abandon'`. */
  abandoned(childSessionIds: readonly string[]): Promise<Set<string>>;
  /** Ends the transaction and the connection. */
  close(): Promise<void>;
}

const failure = (error: unknown, what: string): Error =>
  isPostgresConnectionError(error) || (error as { code?: unknown }).code === '3F000' || (error as { code?: unknown }).code === '42P01'
    ? new StoreUnavailableError(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error })
    : (error as Error);

/**
 * Opens one connection for `sprout audit` over a PostgreSQL deployment, read-only and in one
 * snapshot. Events are streamed through a server-side cursor (`DECLARE … CURSOR`, `FETCH 5000`),
 * so memory stays flat; a row's JSON is only sent when it may be a sub-session event. Rejects with
 * {@link StoreUnavailableError} when the server, the schema or its tables cannot be reached.
 *
 * @example
 * const reader = await openPostgresAuditReader({ connectionString: 'postgres://localhost/app', schema: 'sprout' });
 * const auditor = new EventLogAuditor(await reader.ledger(), { now: Date.now() });
 * for await (const page of reader.pages()) for (const row of page) auditor.push(row);
 * await reader.close();
 */
export async function openPostgresAuditReader(options: PostgresAuditReaderOptions): Promise<PostgresAuditReader> {
  const s = quoteSchema(validatePostgresSchemaName(options.schema ?? 'sprout'));
  const client = new pg.Client({ connectionString: options.connectionString, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    await client.query(`SELECT 1 FROM ${s}.open_runs LIMIT 0`);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw failure(error, 'cannot read the PostgreSQL event log');
  }
  return {
    ledger: async () => {
      const result = await client.query<{ run_id: string; parent_session_id: string; child_session_id: string; started_seq: string }>(
        `SELECT run_id, parent_session_id, child_session_id, started_seq FROM ${s}.open_runs ORDER BY position`,
      );
      return result.rows.map((row) => ({
        runId: row.run_id,
        parentSessionId: row.parent_session_id,
        childSessionId: row.child_session_id,
        startedSeq: Number(row.started_seq),
      }));
    },
    async *pages() {
      await client.query(
        `DECLARE sprout_audit NO SCROLL CURSOR FOR
           SELECT e.session_id, e.seq, q.last_seq,
             CASE WHEN strpos(e.event::text, 'sub_session_started') > 0 OR strpos(e.event::text, 'sub_session_completed') > 0
                    OR strpos(e.event::text, 'sub_session_heartbeat') > 0 THEN e.event::text END AS json
           FROM ${s}.events e LEFT JOIN ${s}.event_seqs q ON q.session_id = e.session_id
           ORDER BY e.session_id, e.seq`,
      );
      for (;;) {
        const page = await client.query<{ session_id: string; seq: string; last_seq: string | null; json: string | null }>(
          `FETCH ${PAGE} FROM sprout_audit`,
        );
        if (page.rows.length === 0) break;
        yield page.rows.map((row) => ({
          sessionId: row.session_id,
          seq: Number(row.seq),
          lastSeq: row.last_seq === null ? undefined : Number(row.last_seq),
          json: row.json ?? undefined,
        }));
      }
      await client.query('CLOSE sprout_audit');
    },
    abandoned: async (childSessionIds) => {
      if (childSessionIds.length === 0) return new Set();
      const result = await client.query<{ id: string }>(
        `SELECT id FROM ${s}.sessions WHERE id = ANY($1::text[]) AND data->'metadata'->>'on_parent_end' = 'abandon'`,
        [childSessionIds],
      );
      return new Set(result.rows.map((row) => row.id));
    },
    close: async () => {
      await client.query('COMMIT').catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}
