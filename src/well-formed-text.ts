import { SproutValidationError } from './errors.js';

/**
 * True when `text` holds no U+0000, which PostgreSQL text cannot store (nor compare): a query
 * naming one is bad input, never a store outage. For zod's `refine`.
 *
 * @example
 * z.string().refine(hasNoNul, NUL_MESSAGE).safeParse('a\u0000b').success; // false
 */
export const hasNoNul = (text: string): boolean => !text.includes('\u0000');

/** The message of a {@link hasNoNul} refusal. */
export const NUL_MESSAGE = 'must not contain U+0000';

/** A UTF-16 surrogate without its pair: with the `u` flag a well-formed pair is one code point and does not match. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/**
 * The path of the first string (value or object key) in `value` that is not well-formed Unicode
 * (holds a lone surrogate, which JSON can carry as `\ud800` but UTF-8, PostgreSQL and SQLite
 * cannot store); `undefined` when every string is well-formed.
 *
 * @example
 * illFormedPath({ title: 'ok', prompt: '\ud800' }); // ['prompt']
 */
export function illFormedPath(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? path : undefined;
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) {
      const found = illFormedPath(item, [...path, i]);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (LONE_SURROGATE.test(key)) return [...path, key];
      const found = illFormedPath(item, [...path, key]);
      if (found) return found;
    }
  }
  return undefined;
}

/**
 * Throws `SproutValidationError` when a string in `value` holds a lone surrogate (see
 * {@link illFormedPath}): input a store would refuse is refused at the edge, before it is written.
 *
 * @example
 * assertWellFormed(brief, 'spawn brief');
 */
export function assertWellFormed(value: unknown, subject: string): void {
  const path = illFormedPath(value);
  if (path === undefined) return;
  throw new SproutValidationError(subject, [
    { code: 'custom', path, message: 'is not well-formed Unicode (it holds a lone surrogate)', input: undefined },
  ]);
}
