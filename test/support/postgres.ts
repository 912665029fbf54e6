// PostgreSQL for the adapter tests: where the server is, whether it answers, and a schema of its
// own for every test (created by the adapters' migrations, dropped afterwards).
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * The server the tests use: `SPROUT_TEST_POSTGRES_URL`, else the local one with trust auth
 * (`postgres://root@127.0.0.1:5432/postgres`, what CI provides).
 */
export const POSTGRES_URL = process.env.SPROUT_TEST_POSTGRES_URL ?? 'postgres://root@127.0.0.1:5432/postgres';

/** Set `SPROUT_REQUIRE_POSTGRES=1` to make an unreachable server fail the tests instead of skipping them. */
const REQUIRED = process.env.SPROUT_REQUIRE_POSTGRES === '1';

/**
 * Why PostgreSQL cannot be used (`undefined` when it answers): checked once per test file with a
 * short connect timeout. When it is unreachable the suites skip, and say so on stderr.
 */
export async function postgresUnavailable(): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    const reason = `PostgreSQL at ${POSTGRES_URL} is unreachable (${error instanceof Error ? error.message : String(error)})`;
    if (REQUIRED) throw new Error(`${reason}, and SPROUT_REQUIRE_POSTGRES=1`);
    console.warn(`SKIPPING the PostgreSQL adapter tests: ${reason}. Set SPROUT_TEST_POSTGRES_URL to point them at a server.`);
    return reason;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A fresh schema name for one test: `sprout_test_<pid>_<random>` (never created here; the adapters migrate it). */
export function testSchemaName(): string {
  return `sprout_test_${process.pid}_${randomBytes(5).toString('hex')}`;
}

/** Schemas handed out by {@link createTestSchema} and not yet dropped. */
const live = new Set<string>();

/**
 * A schema name for one test and its disposal: `drop()` runs `DROP SCHEMA … CASCADE` on that schema
 * only (on a connection of its own), whether or not the adapters created it.
 *
 * @example
 * const schema = createTestSchema();
 * try { … new PostgresSessionStore({ connectionString: POSTGRES_URL, schema: schema.name }) … } finally { await schema.drop(); }
 */
export function createTestSchema(): { name: string; drop(): Promise<void> } {
  const name = testSchemaName();
  live.add(name);
  return {
    name,
    async drop() {
      const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
      client.on('error', () => undefined);
      await client.connect();
      try {
        await client.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
        live.delete(name);
      } finally {
        await client.end();
      }
    },
  };
}

/** Schemas handed out and not dropped yet (a test file checks it is empty at the end). */
export function undroppedSchemas(): string[] {
  return [...live];
}

/** The schemas whose name starts with `prefix` that exist on the server (to check cleanup). */
export async function existingSchemas(prefix: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1)', [prefix]);
    return rows.map((row) => row.nspname);
  } finally {
    await client.end();
  }
}

/**
 * Runs one statement on a connection of its own (for a test to look at or rig its own schema:
 * count rows, add a failing trigger, terminate its own connections).
 *
 * @example
 * const rows = await adminQuery<{ n: string }>(`SELECT count(*) AS n FROM "${schema.name}".events`);
 */
export async function adminQuery<R extends pg.QueryResultRow = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<R[]> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(text, values)).rows;
  } finally {
    await client.end();
  }
}
