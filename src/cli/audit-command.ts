import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { EventLogAuditor, type AuditOptions, type AuditReport } from '../audit/event-log-audit.js';
import { systemClock } from '../clock.js';
import { CliUsageError, EXIT } from './cli-error.js';
import type { CliIo } from './cli-io.js';
import { parseCommandFlags } from './command-flags.js';
import { formatTable } from './format-table.js';

/** `sprout audit --help`. */
export const AUDIT_HELP = `sprout audit: check an event log and its run ledger for broken invariants (read-only, one pass)

Usage:
  sprout audit --db PATH [options]
  sprout audit --postgres URL [--prefix NAME] [options]

Source (exactly one):
  --db PATH                SQLite file of sprout serve / sprout demo
  --postgres URL           PostgreSQL of a distributed deployment (or SPROUT_POSTGRES_URL)
  --prefix NAME            its schema (default sprout; also SPROUT_PREFIX)

Options:
  --max-run-ms N           an open run whose first heartbeat is older than this (default 86400000, 24 h)
  --heartbeat-ms N         the scheduler's heartbeat interval (default 5000)
  --stale-beats N          a running run whose last heartbeat is older than N intervals (default 3)
  --limit N                findings listed (all are counted; default 1000)
  --json                   the report as JSON
  -h, --help               this text

Reports: seq gaps and seq counters that disagree with the events; completions without a start,
runs completed twice, runs started with neither a completion nor an open ledger run (lost);
ledger runs already completed; open runs past --max-run-ms; stale heartbeats; runs still open
under a parent whose last run ended cancelled or error (unless spawned with onParentEnd abandon).

Exit codes: 0 healthy · 1 at least one finding · 2 bad flags, or the database cannot be read`;

const int = (min: number, max: number) =>
  z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(min).max(max));

const flagsSchema = z.object({
  db: z.string().min(1).optional(),
  postgres: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  prefix: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,47}$/, 'must be lowercase letters, digits and _ (at most 48)')
    .default('sprout'),
  'max-run-ms': int(1, Number.MAX_SAFE_INTEGER).default(86_400_000),
  'heartbeat-ms': int(1, 86_400_000).default(5000),
  'stale-beats': int(1, 1000).default(3),
  limit: int(0, 1_000_000).default(1000),
  json: z.boolean().default(false),
  help: z.boolean().default(false),
});

/** `sprout audit`'s options, parsed. */
export type AuditCliOptions = z.output<typeof flagsSchema>;

/**
 * Parses `sprout audit`'s flags (after the command name); `SPROUT_POSTGRES_URL` and
 * `SPROUT_PREFIX` stand in for `--postgres` and `--prefix` (as for `sprout worker`). Throws a one-line {@link CliUsageError} for anything it does not accept.
 *
 * @example
 * parseAuditArgs(['--db', 'sprout.db', '--json'], {});
 */
export function parseAuditArgs(argv: readonly string[], env: Readonly<Record<string, string | undefined>> = {}): AuditCliOptions {
  const values = parseCommandFlags('audit', argv, {
    db: { type: 'string' },
    postgres: { type: 'string' },
    prefix: { type: 'string' },
    'max-run-ms': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'stale-beats': { type: 'string' },
    limit: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  const parsed = flagsSchema.safeParse({
    ...values,
    postgres: values.postgres ?? (values.db === undefined ? env.SPROUT_POSTGRES_URL : undefined),
    prefix: values.prefix ?? (values.db === undefined && env.SPROUT_PREFIX ? env.SPROUT_PREFIX : undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliUsageError(`sprout audit: --${String(issue?.path[0] ?? '')} ${issue?.message ?? 'is invalid'} (see sprout audit --help)`);
  }
  const options = parsed.data;
  if (!options.help && (options.db === undefined) === (options.postgres === undefined))
    throw new CliUsageError('sprout audit: give exactly one of --db PATH and --postgres URL (see sprout audit --help)');
  return options;
}

/** Audits a SQLite file: one read-only snapshot, the events streamed from a cursor. */
async function auditSqlite(path: string, limits: AuditOptions): Promise<AuditReport> {
  if (!existsSync(path)) throw new CliUsageError(`sprout audit: no such file: ${path}`);
  const { sqliteAuditReader } = await import('../adapters/sqlite/sqlite-audit-reader.js');
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (error) {
    throw new CliUsageError(`sprout audit: cannot open ${path}: ${(error as Error).message}`, { cause: error });
  }
  try {
    const reader = sqliteAuditReader(db);
    try {
      const auditor = new EventLogAuditor(reader.ledger(), limits);
      for (const row of reader.rows()) auditor.push(row);
      return auditor.finish(reader.abandoned(auditor.childrenUnderEndedParents()));
    } finally {
      reader.close();
    }
  } finally {
    db.close();
  }
}

/** Audits a PostgreSQL deployment: one `REPEATABLE READ` snapshot, the events paged from a server-side cursor. */
async function auditPostgres(connectionString: string, schema: string, limits: AuditOptions): Promise<AuditReport> {
  const { openPostgresAuditReader } = await import('../adapters/postgres/postgres-audit-reader.js');
  const reader = await openPostgresAuditReader({ connectionString, schema });
  try {
    const auditor = new EventLogAuditor(await reader.ledger(), limits);
    for await (const page of reader.pages()) for (const row of page) auditor.push(row);
    return auditor.finish(await reader.abandoned(auditor.childrenUnderEndedParents()));
  } finally {
    await reader.close();
  }
}

/** The report as a table and a summary line. */
function formatReport(report: AuditReport): string {
  const { events, sessions, openRuns } = report.scanned;
  const summary = `scanned ${events} events in ${sessions} streams, ${openRuns} open runs in the ledger`;
  if (report.total === 0) return `${summary}\nhealthy: no broken invariant\n`;
  const rows = report.findings.map((f) => [f.kind, f.sessionId, f.runId ?? '', f.seq === undefined ? '' : String(f.seq), f.detail]);
  const counts = Object.entries(report.counts)
    .map(([kind, count]) => `${kind} ${count}`)
    .join(', ');
  const more = report.total > report.findings.length ? `\n(${report.total - report.findings.length} more not listed)` : '';
  return `${formatTable(['finding', 'stream', 'run', 'seq', 'detail'], rows)}${more}\n\n${summary}\n${report.total} broken invariant(s): ${counts}\n`;
}

/**
 * `sprout audit`: scans an event log and its run ledger (SQLite `--db` or PostgreSQL
 * `--postgres`) and reports every broken invariant (see {@link EventLogAuditor}) as a table or
 * `--json`. Resolves with the exit code: 0 healthy, 1 findings, 2 bad flags or an unreadable
 * database.
 *
 * @example
 * process.exitCode = await runAudit(['--db', 'sprout.db'], processIo());
 */
export async function runAudit(argv: readonly string[], io: CliIo): Promise<number> {
  const options = parseAuditArgs(argv, io.env ?? {});
  if (options.help) {
    io.stdout.write(`${AUDIT_HELP}\n`);
    return EXIT.ok;
  }
  const limits: AuditOptions = {
    now: systemClock.now(),
    maxRunMs: options['max-run-ms'],
    heartbeatIntervalMs: options['heartbeat-ms'],
    staleAfterBeats: options['stale-beats'],
    maxFindings: options.limit,
  };
  const report =
    options.db !== undefined
      ? await auditSqlite(options.db, limits)
      : await auditPostgres(options.postgres as string, options.prefix, limits);
  io.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report));
  return report.total === 0 ? EXIT.ok : EXIT.failed;
}
