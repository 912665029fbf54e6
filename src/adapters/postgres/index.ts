/**
 * The PostgreSQL adapters: a session store and an event log for several processes sharing one
 * database (one schema per deployment). Not exported from the package root yet.
 */
export { PostgresDatabase, isPostgresConnectionError, type PostgresConnectionOptions } from './postgres-database.js';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './postgres-session-store.js';
export {
  PostgresEventLog,
  type PostgresEventLogChange,
  type PostgresEventLogOptions,
  type PostgresLiveOptions,
} from './postgres-event-log.js';
export {
  DEFAULT_POSTGRES_SCHEMA,
  POSTGRES_MIGRATIONS,
  POSTGRES_SCHEMA_PATTERN,
  migratePostgresSchema,
  validatePostgresSchemaName,
} from './postgres-schema.js';
