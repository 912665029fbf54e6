import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Pool, PoolClient, PoolConfig, QueryConfig, QueryResultRow } from 'pg';
import { SproutError, StoreUnavailableError } from '../../errors.js';
import {
  DEFAULT_POSTGRES_SCHEMA,
  eventsChannel,
  migratePostgresSchema,
  quoteSchema,
  validatePostgresSchemaName,
} from './postgres-schema.js';

/**
 * How to reach PostgreSQL, shared by {@link PostgresSessionStore}, {@link PostgresEventLog} and
 * {@link PostgresDatabase}. Give a `connectionString` (and optionally more `poolConfig`), or a
 * `pool` of your own; with neither, node-postgres reads the libpq variables (`PGHOST`, `PGUSER`,
 * `PGDATABASE`, …).
 *
 * @example
 * const options: PostgresConnectionOptions = { connectionString: 'postgres://sprout@db:5432/app', schema: 'sprout_prod' };
 */
export interface PostgresConnectionOptions {
  /** `postgres://user:password@host:5432/database`. @default the libpq environment variables */
  connectionString?: string | undefined;
  /**
   * More `pg.Pool` settings (`max`, `ssl`, `statement_timeout`, …), applied over Sprout's
   * defaults (`connectionTimeoutMillis: 10000`, `keepAlive: true`, `application_name: 'sprout'`,
   * `idle_in_transaction_session_timeout: 10000`, `lock_timeout: 5000`).
   * @default {}
   */
  poolConfig?: PoolConfig;
  /** An existing pool: used as is and never ended by Sprout (`connectionString`/`poolConfig` are then ignored). */
  pool?: Pool;
  /**
   * The schema that holds Sprout's tables: one per deployment (the CLI's `--prefix`), so several
   * deployments (or test runs) share a database without seeing each other. Created and migrated
   * on first use. Lowercase identifier, at most 48 characters. @default 'sprout'
   */
  schema?: string;
  /**
   * Gets failures nobody awaits: an idle pooled connection that dropped, the `LISTEN`
   * connection of `changes$` failing (it reconnects). @default ignored (the pool reconnects on its own)
   */
  onError?: (error: StoreUnavailableError) => void;
}

/** Connection errors (as opposed to a statement PostgreSQL refused): the server is unreachable or went away. */
/**
 * `idle_in_transaction_session_timeout` of Sprout's connections, ms: a session idle inside a
 * transaction this long is ended by the server, and its locks released. Distributed workers set
 * it below their lease, so a worker stopped inside a transaction never outlives its runs' lease.
 */
export const DEFAULT_IDLE_IN_TRANSACTION_MS = 10_000;

/** `lock_timeout` of Sprout's connections, ms: a statement waiting longer on a lock fails (and is retried later). */
export const DEFAULT_LOCK_TIMEOUT_MS = 5_000;

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/**
 * Whether `error` says the database could not be reached or the connection was lost (a network
 * error, a connect timeout, SQLSTATE class 08, an administrator shutdown, too many connections).
 *
 * @example
 * if (isPostgresConnectionError(error)) retryLater();
 */
export function isPostgresConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && (CONNECTION_CODES.has(code) || code.startsWith('08') || /^57P0[1-3]$/.test(code) || code === '53300')) {
    return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection closed/i.test(
    error.message,
  );
}

/** Where a pool points, for messages (never the password). */
function describeTarget(config: PoolConfig): string {
  if (config.connectionString) {
    try {
      const url = new URL(config.connectionString);
      return `${url.hostname || 'localhost'}:${url.port || '5432'}${url.pathname && url.pathname !== '/' ? url.pathname : ''}`;
    } catch {
      return 'the configured server';
    }
  }
  const host = typeof config.host === 'string' ? config.host : (process.env.PGHOST ?? 'localhost');
  const port = config.port ?? (process.env.PGPORT ? Number(process.env.PGPORT) : 5432);
  const database = config.database ?? process.env.PGDATABASE;
  return `${host}:${port}${database ? `/${database}` : ''}`;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/**
 * A statement a connection parses (and plans) once, then only binds and executes: its `name` is
 * derived from its text, so two texts never share a name, on any connection of any pool.
 *
 * @example
 * const load = namedStatement('SELECT data FROM "sprout".sessions WHERE id = $1');
 * await database.query(load, ['c1'], 'loading session c1');
 */
export interface NamedStatement {
  /** The server-side prepared statement's name (`sprout_` and a hash of the text). */
  readonly name: string;
  readonly text: string;
}

/**
 * `text` as a {@link NamedStatement}: for the statements every run sends (claims, fenced saves,
 * loads, event batches), so the server skips parsing and, after a few runs, planning them.
 *
 * @example
 * const statement = namedStatement(`SELECT 1`); // { name: 'sprout_…', text: 'SELECT 1' }
 */
export function namedStatement(text: string): NamedStatement {
  return { name: `sprout_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`, text };
}

/**
 * One PostgreSQL database and schema as Sprout's adapters use it: the connection pool (made from
 * the options, or yours), the schema name, migrations run once on first use (retried on the next
 * call when they failed), and driver errors turned into {@link StoreUnavailableError}. A
 * {@link PostgresSessionStore} makes one; pass `{ database }` to share it with more logs.
 *
 * @example
 * const database = new PostgresDatabase({ connectionString: 'postgres://localhost/app', schema: 'sprout' });
 * await database.ready(); // migrated
 * await database.close();
 */
export class PostgresDatabase {
  /** The validated schema name. */
  readonly schema: string;
  /** The schema name, double-quoted for SQL. */
  readonly quoted: string;
  /** The `LISTEN`/`NOTIFY` channel of this schema's event log. */
  readonly channel: string;
  /** Host, port and database, for messages (no password). */
  readonly target: string;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #onError: ((error: StoreUnavailableError) => void) | undefined;
  #migrated: Promise<void> | undefined;
  #closed: Promise<void> | undefined;

  constructor(options: PostgresConnectionOptions = {}) {
    this.schema = validatePostgresSchemaName(options.schema ?? DEFAULT_POSTGRES_SCHEMA);
    this.quoted = quoteSchema(this.schema);
    this.channel = eventsChannel(this.schema);
    this.#onError = options.onError;
    if (options.pool) {
      this.#pool = options.pool;
      this.#ownsPool = false;
    } else {
      const config: PoolConfig = {
        connectionTimeoutMillis: 10_000,
        keepAlive: true,
        application_name: 'sprout',
        // A process stopped inside a transaction (SIGSTOP, a frozen VM) must not hold its row
        // locks for ever: the server ends such a session, and nothing waits on a lock for long.
        idle_in_transaction_session_timeout: DEFAULT_IDLE_IN_TRANSACTION_MS,
        lock_timeout: DEFAULT_LOCK_TIMEOUT_MS,
        ...(options.connectionString === undefined ? {} : { connectionString: options.connectionString }),
        ...options.poolConfig,
      };
      this.#pool = new pg.Pool(config);
      this.#ownsPool = true;
    }
    this.target = describeTarget(this.#pool.options);
    // An idle pooled connection that fails emits 'error' on the pool: unhandled, it would crash
    // the process. The pool drops that connection and opens a new one when next needed.
    this.#pool.on('error', (error) => this.report(this.unavailable(error, 'an idle connection')));
  }

  /** The pool (shared with whoever gave it). */
  get pool(): Pool {
    return this.#pool;
  }

  /** True once {@link close} was called. */
  get closed(): boolean {
    return this.#closed !== undefined;
  }

  /**
   * Resolves once the schema is migrated (the first call migrates; a failure is retried by the
   * next call). Rejects with {@link StoreUnavailableError}.
   *
   * @example
   * await database.ready();
   */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(this.closedError());
    this.#migrated ??= this.#migrate().catch((error: unknown) => {
      this.#migrated = undefined;
      throw this.unavailable(error, 'migrating the schema');
    });
    return this.#migrated;
  }

  /**
   * Runs one statement (after {@link ready}); failures reject with {@link StoreUnavailableError}
   * saying `what` failed. A {@link NamedStatement} is prepared once per connection.
   *
   * @example
   * const { rows } = await database.query('SELECT count(*) FROM "sprout".sessions', [], 'counting sessions');
   */
  async query<R extends QueryResultRow>(statement: string | NamedStatement, values: unknown[], what: string): Promise<R[]> {
    await this.ready();
    try {
      if (typeof statement === 'string') return (await this.#pool.query<R>(statement, values)).rows;
      const config: QueryConfig = { name: statement.name, text: statement.text, values };
      return (await this.#pool.query<R>(config)).rows;
    } catch (error) {
      throw this.unavailable(error, what);
    }
  }

  /**
   * Asks the server one trivial question (`SELECT 1`, after {@link ready}): resolves when it
   * answers, rejects with {@link StoreUnavailableError} otherwise. For health checks.
   *
   * @example
   * await database.ping();
   */
  async ping(): Promise<void> {
    await this.query('SELECT 1', [], 'a health check');
  }

  /**
   * Runs `body` on one pooled connection (after {@link ready}) and releases it; a connection that
   * failed is destroyed instead of going back to the pool. Errors that are not Sprout's reject
   * as {@link StoreUnavailableError}.
   *
   * @example
   * await database.withClient((client) => client.query('SELECT 1'), 'a ping');
   */
  async withClient<T>(body: (client: PoolClient) => Promise<T>, what: string): Promise<T> {
    await this.ready();
    try {
      return await this.#checkout(body);
    } catch (error) {
      throw this.unavailable(error, what);
    }
  }

  /**
   * A new client with the pool's settings, not pooled: for a connection that must stay open
   * (`LISTEN`). The caller connects and ends it.
   *
   * @example
   * const listener = database.newClient();
   */
  newClient(): pg.Client {
    return new pg.Client(this.#pool.options);
  }

  /**
   * `error` as a {@link StoreUnavailableError} that names the server, the schema and what was
   * being done (Sprout's own errors pass through).
   *
   * @example
   * throw database.unavailable(error, 'loading session c1');
   */
  unavailable(error: unknown, what: string): SproutError {
    if (error instanceof SproutError) return error;
    const where = `PostgreSQL at ${this.target} (schema ${this.schema})`;
    const message = isPostgresConnectionError(error)
      ? `${where} is unreachable (${what}): ${messageOf(error)}`
      : `${where}: ${what} failed: ${messageOf(error)}`;
    return new StoreUnavailableError(message, { cause: error });
  }

  /** The error of a call made after {@link close}. */
  closedError(): StoreUnavailableError {
    return new StoreUnavailableError(`PostgreSQL store at ${this.target} (schema ${this.schema}) is closed`);
  }

  /** Hands a failure nobody awaits to `onError` (a throwing hook is ignored). */
  report(error: SproutError): void {
    if (!this.#onError) return;
    try {
      this.#onError(error instanceof StoreUnavailableError ? error : new StoreUnavailableError(error.message, { cause: error }));
    } catch {
      // A failing hook must not turn a dropped connection into a crash.
    }
  }

  /**
   * Ends the pool when it was made here (a pool you gave stays open). Idempotent; later calls
   * of the other methods reject with {@link StoreUnavailableError}.
   *
   * @example
   * await database.close();
   */
  close(): Promise<void> {
    this.#closed ??= this.#ownsPool ? this.#pool.end().catch(() => undefined) : Promise.resolve();
    return this.#closed;
  }

  async #migrate(): Promise<void> {
    await this.#checkout((client) => migratePostgresSchema(client, this.schema));
  }

  /**
   * Runs `body` on a pooled connection and gives it back. While it is checked out the connection
   * has an `error` listener (the pool listens only to idle ones: a connection killed between two
   * statements would otherwise be an uncaught exception). A connection that failed, or whose body
   * threw something other than a Sprout error, is destroyed rather than reused (it may be gone,
   * or left in an aborted transaction): the pool opens a fresh one.
   */
  async #checkout<T>(body: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await this.#pool.connect();
    let broken: Error | undefined;
    const onError = (error: Error): void => {
      broken = error;
    };
    client.on('error', onError);
    try {
      return await body(client);
    } catch (error) {
      if (!(error instanceof SproutError)) broken ??= error instanceof Error ? error : new Error(String(error));
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken);
    }
  }
}
