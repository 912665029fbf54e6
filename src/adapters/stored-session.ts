import { sessionSchema, type Session } from '../../machines/session.schema.js';
import { InvalidSessionDataError, SproutValidationError } from '../errors.js';

/**
 * Checks a session read back from a database row (already parsed from its JSON) against the
 * schema and the row's id, and gives it the row's `version`. Returns the error instead of throwing
 * it, so a listing can skip a bad row and report it. Shared by the SQLite and PostgreSQL stores.
 *
 * @example
 * const decoded = decodeStoredSession('c1', JSON.parse(row.json), row.version);
 * if (decoded instanceof InvalidSessionDataError) report(decoded);
 */
export function decodeStoredSession(id: string, value: unknown, version: number): Session | InvalidSessionDataError {
  const parsed = sessionSchema.safeParse(value);
  if (!parsed.success) {
    const validation = new SproutValidationError('session', parsed.error.issues);
    return new InvalidSessionDataError(id, validation.message, { cause: validation });
  }
  if (parsed.data.id !== id) return new InvalidSessionDataError(id, `stored JSON has id ${parsed.data.id}`);
  return { ...parsed.data, version };
}

/**
 * `JSON.stringify` of a session, with a value it cannot encode (e.g. a BigInt) reported as
 * invalid input (`SproutValidationError`).
 *
 * @example
 * const json = sessionToJson(session);
 */
export function sessionToJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    throw new SproutValidationError('session', [
      {
        code: 'custom',
        path: [],
        message: `session is not JSON-serializable: ${error instanceof Error ? error.message : String(error)}`,
      },
    ]);
  }
}
