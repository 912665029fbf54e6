import type { PoolClient } from 'pg';
import { StoreUnavailableError, SproutValidationError } from '../../errors.js';
import { appendEventsFunction } from './postgres-append-function.js';

/**
 * What a schema name must look like: lowercase letters, digits and `_`, starting with a letter or
 * `_`, at most 48 characters, and not `pg_…` (reserved by PostgreSQL). It is used unquoted-safe
 * in SQL (always double-quoted anyway) and as the prefix of the `LISTEN` channel.
 *
 * @example
 * POSTGRES_SCHEMA_PATTERN.test('sprout_prod'); // true
 */
export const POSTGRES_SCHEMA_PATTERN = /^(?!pg_)[a-z_][a-z0-9_]{0,47}$/;

/** The schema Sprout's tables live in when none is given. */
export const DEFAULT_POSTGRES_SCHEMA = 'sprout';

/**
 * Checks a schema name against {@link POSTGRES_SCHEMA_PATTERN}; throws
 * {@link SproutValidationError} (subject `PostgreSQL schema`) otherwise.
 *
 * @example
 * validatePostgresSchemaName('sprout_staging'); // 'sprout_staging'
 */
export function validatePostgresSchemaName(schema: unknown): string {
  if (typeof schema === 'string' && POSTGRES_SCHEMA_PATTERN.test(schema)) return schema;
  throw new SproutValidationError('PostgreSQL schema', [
    {
      code: 'custom',
      path: [],
      message: `expected a lowercase identifier matching ${String(POSTGRES_SCHEMA_PATTERN)} (e.g. "sprout"), got ${JSON.stringify(schema)}`,
    },
  ]);
}

/** `"schema"` — the name double-quoted (it is validated, so it needs no escaping). */
export const quoteSchema = (schema: string): string => `"${schema}"`;

/** The `LISTEN` / `NOTIFY` channel of a schema's event log (channels are per database, so the schema prefixes it). */
export const eventsChannel = (schema: string): string => `${schema}_events`;

/**
 * The schema, one migration per entry (each a function of the quoted schema name), applied in
 * order, each in its own transaction. `<schema>.sprout_migrations` records which versions ran.
 * Append only: never edit a shipped migration.
 *
 * 1. `sessions`: the session as `jsonb` plus indexed columns (byte-order `COLLATE "C"` on the
 *    ids and `created_at`, so `listChildren` orders exactly as the other adapters do).
 * 2. The event log: `events` (the retained tail, one `json` row per envelope: `json`, not
 *    `jsonb`, keeps any string an agent emits, `\u0000` included), `event_seqs` (the last seq ever
 *    assigned per session: the row every writer locks to get its seqs) and `open_runs` (the run
 *    ledger; `position` keeps announcement order).
 * 3. `run_fences`: the owner and epoch of each distributed run (its fencing token). A worker that
 *    takes a run bumps the epoch; every write of the run carries the epoch it holds and is refused
 *    once another worker took the run.
 * 4. The summary columns of `sessions` (title, model, metadata, message count, last message,
 *    attachments, last activity), backfilled from each row's `data`, and the indexes that page
 *    listings by `created_at, id` and by last activity (`listSummaries`), so a listing never
 *    reads the `data` column.
 * 5. `runs`: the run index (one row per announced run: parent, child, root, title, model,
 *    status, reason, error, times, tokens; `position` is the announcement order), written by
 *    `PostgresEventLog` in the same transaction as the events, with an index per filter of
 *    `GET /v1/runs`. Runs announced before this migration are not indexed.
 * 6. `append_events(...)`: the function that writes one batch of the event log in one statement
 *    (fences, seqs, events, run ledger, run index, retention, `NOTIFY`), so an append never holds
 *    locks across client round trips (see `postgres-append-function.ts`).
 * 7. Drops the three `sessions` indexes that later ones cover (`sessions_by_root`,
 *    `sessions_by_kind`, `sessions_by_run_status`: prefixes of `sessions_by_root_created`,
 *    `sessions_by_kind_created` and `sessions_by_status_created`). A session save rewrites every
 *    index of its row (its status and activity columns change), so each index costs every save.
 *
 * @example
 * POSTGRES_MIGRATIONS.length; // 7
 */
export const POSTGRES_MIGRATIONS: readonly ((s: string) => string)[] = [
  (s) => `
    CREATE TABLE ${s}.sessions (
      id text COLLATE "C" PRIMARY KEY,
      kind text NOT NULL,
      parent_session_id text COLLATE "C",
      root_session_id text COLLATE "C" NOT NULL,
      spawn_depth integer NOT NULL,
      last_run_status text,
      created_at text COLLATE "C" NOT NULL,
      updated_at text NOT NULL,
      version integer NOT NULL,
      data jsonb NOT NULL
    );
    CREATE INDEX sessions_by_parent ON ${s}.sessions (parent_session_id, created_at, id);
    CREATE INDEX sessions_by_root ON ${s}.sessions (root_session_id);
    CREATE INDEX sessions_by_run_status ON ${s}.sessions (last_run_status, created_at, id) WHERE kind = 'child';
    CREATE INDEX sessions_by_kind ON ${s}.sessions (kind);`,
  (s) => `
    CREATE TABLE ${s}.events (
      session_id text COLLATE "C" NOT NULL,
      seq bigint NOT NULL,
      event json NOT NULL,
      PRIMARY KEY (session_id, seq)
    );
    CREATE TABLE ${s}.event_seqs (
      session_id text COLLATE "C" PRIMARY KEY,
      last_seq bigint NOT NULL
    );
    CREATE TABLE ${s}.open_runs (
      run_id text COLLATE "C" PRIMARY KEY,
      position bigserial NOT NULL,
      parent_session_id text COLLATE "C" NOT NULL,
      child_session_id text COLLATE "C" NOT NULL,
      title text,
      started_seq bigint NOT NULL
    );
    CREATE INDEX open_runs_by_position ON ${s}.open_runs (position);`,
  (s) => `
    CREATE TABLE ${s}.run_fences (
      run_id text COLLATE "C" PRIMARY KEY,
      owner text NOT NULL,
      epoch bigint NOT NULL,
      claimed_at timestamptz NOT NULL DEFAULT now()
    );`,
  (s) => `
    ALTER TABLE ${s}.sessions
      ADD COLUMN title text NOT NULL DEFAULT '',
      ADD COLUMN model text NOT NULL DEFAULT '',
      ADD COLUMN metadata jsonb NOT NULL DEFAULT '{}',
      ADD COLUMN message_count integer NOT NULL DEFAULT 0,
      ADD COLUMN last_message_id text,
      ADD COLUMN last_message_role text,
      ADD COLUMN last_message_at text,
      ADD COLUMN has_attachments boolean NOT NULL DEFAULT false,
      ADD COLUMN last_activity_at text COLLATE "C" NOT NULL DEFAULT '';
    UPDATE ${s}.sessions SET
        title = coalesce(data->>'title', ''),
        model = coalesce(data->>'model', ''),
        metadata = CASE jsonb_typeof(data->'metadata') WHEN 'object' THEN data->'metadata' ELSE '{}'::jsonb END,
        message_count = jsonb_array_length(data->'messages'),
        last_message_id = data->'messages'->-1->>'id',
        last_message_role = data->'messages'->-1->>'role',
        last_message_at = data->'messages'->-1->>'created_at',
        has_attachments = EXISTS (
          SELECT 1 FROM jsonb_array_elements(data->'messages') m
          WHERE jsonb_typeof(m->'attachments') = 'array' AND jsonb_array_length(m->'attachments') > 0
        ),
        last_activity_at = CASE
          WHEN (data->'messages'->-1->>'created_at') COLLATE "C" > updated_at COLLATE "C" THEN data->'messages'->-1->>'created_at'
          ELSE updated_at END
      WHERE jsonb_typeof(data->'messages') = 'array';
    UPDATE ${s}.sessions SET last_activity_at = updated_at WHERE last_activity_at = '';
    CREATE INDEX sessions_by_created ON ${s}.sessions (created_at, id);
    CREATE INDEX sessions_by_kind_created ON ${s}.sessions (kind, created_at, id);
    CREATE INDEX sessions_by_root_created ON ${s}.sessions (root_session_id, created_at, id);
    CREATE INDEX sessions_by_status_created ON ${s}.sessions (last_run_status, created_at, id);
    CREATE INDEX sessions_by_activity ON ${s}.sessions (last_activity_at, created_at, id);
    CREATE INDEX sessions_by_kind_activity ON ${s}.sessions (kind, last_activity_at, created_at, id);`,
  (s) => `
    CREATE TABLE ${s}.runs (
      position bigserial PRIMARY KEY,
      run_id text COLLATE "C" NOT NULL UNIQUE,
      parent_session_id text COLLATE "C" NOT NULL,
      child_session_id text COLLATE "C" NOT NULL,
      root_session_id text COLLATE "C" NOT NULL,
      title text,
      model text,
      status text NOT NULL,
      reason text,
      error text,
      created_at text COLLATE "C" NOT NULL,
      started_at text,
      ended_at text,
      prompt_tokens bigint,
      completion_tokens bigint,
      total_tokens bigint,
      started_seq bigint NOT NULL,
      ended_seq bigint
    );
    CREATE INDEX runs_by_status ON ${s}.runs (status, position);
    CREATE INDEX runs_by_reason ON ${s}.runs (reason, position);
    CREATE INDEX runs_by_root ON ${s}.runs (root_session_id, position);
    CREATE INDEX runs_by_parent ON ${s}.runs (parent_session_id, position);
    CREATE INDEX runs_by_child ON ${s}.runs (child_session_id, position);
    CREATE INDEX runs_by_model ON ${s}.runs (model, position);
    CREATE INDEX runs_by_created ON ${s}.runs (created_at);`,
  (s) => appendEventsFunction(s),
  (s) => `
    DROP INDEX IF EXISTS ${s}.sessions_by_root;
    DROP INDEX IF EXISTS ${s}.sessions_by_kind;
    DROP INDEX IF EXISTS ${s}.sessions_by_run_status;`,
];

/** Two 32-bit keys of the advisory lock that serializes migrations of one schema. */
const LOCK_NAMESPACE = 0x5370726f; // 'Spro'

/**
 * Brings `schema` to the latest version ({@link POSTGRES_MIGRATIONS}) on `client`: creates the
 * schema and `sprout_migrations` when missing, then applies each missing migration in its own
 * transaction under `pg_advisory_xact_lock` (keyed by the schema), so processes that start
 * together on a fresh database wait for each other instead of racing. Resolves with the version.
 * Rejects with {@link StoreUnavailableError} for a schema migrated by a newer Sprout.
 *
 * @example
 * const client = await pool.connect();
 * try { await migratePostgresSchema(client, 'sprout'); } finally { client.release(); }
 */
export async function migratePostgresSchema(client: PoolClient, schema: string): Promise<number> {
  const name = validatePostgresSchemaName(schema);
  const s = quoteSchema(name);
  const latest = POSTGRES_MIGRATIONS.length;
  // Fast path, no lock: already at the latest version.
  const table = await client.query<{ exists: boolean }>('SELECT to_regclass($1) IS NOT NULL AS exists', [`${s}.sprout_migrations`]);
  if (table.rows[0]?.exists === true) {
    const current = await currentVersion(client, s);
    if (current === latest) return current;
    if (current > latest) throw newerSchema(name, current, latest);
  }
  for (;;) {
    await client.query('BEGIN');
    try {
      // Waiting for another process's migration is expected: no lock_timeout here.
      await client.query('SET LOCAL lock_timeout = 0');
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_NAMESPACE, name]);
      // CREATE SCHEMA IF NOT EXISTS still needs the CREATE privilege on the database: ask first.
      const exists = await client.query<{ exists: boolean }>('SELECT to_regnamespace($1) IS NOT NULL AS exists', [s]);
      if (exists.rows[0]?.exists !== true) await client.query(`CREATE SCHEMA ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.sprout_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const current = await currentVersion(client, s);
      if (current > latest) throw newerSchema(name, current, latest);
      const migration = POSTGRES_MIGRATIONS[current];
      if (migration === undefined) {
        await client.query('COMMIT');
        return current;
      }
      await client.query(migration(s));
      await client.query(`INSERT INTO ${s}.sprout_migrations (version) VALUES ($1)`, [current + 1]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }
}

async function currentVersion(client: PoolClient, s: string): Promise<number> {
  const { rows } = await client.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${s}.sprout_migrations`);
  return rows[0]?.version ?? 0;
}

function newerSchema(schema: string, current: number, latest: number): StoreUnavailableError {
  return new StoreUnavailableError(
    `PostgreSQL schema ${schema} has version ${current}, newer than the ${latest} this Sprout knows (upgrade Sprout, or use another schema)`,
  );
}
