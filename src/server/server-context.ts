import type { Context } from 'hono';
import { z } from 'zod';
import type { SessionCatalog } from './session-catalog.js';
import type { ResolvedServerOptions } from './server-options.js';
import type { SseStreams } from './sse-stream.js';
import { illFormedPath } from '../well-formed-text.js';
import { HttpProblem } from './problem.js';

/** What every route of one server shares. */
export interface ServerContext {
  readonly options: ResolvedServerOptions;
  readonly catalog: SessionCatalog;
  readonly streams: SseStreams;
  readonly createId: () => string;
  readonly now: () => number;
}

/** Session ids in paths: 1–256 characters of letters, digits and `._:-`. */
export const sessionIdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,256}$/, 'must be 1-256 letters, digits, ".", "_", ":" or "-"');

/** The `{id}` path parameter, validated (422 otherwise). */
export function sessionIdParam(c: Context): string {
  const parsed = sessionIdSchema.safeParse(c.req.param('id'));
  if (!parsed.success) throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid session id: ${parsed.error.issues[0]?.message ?? ''}`);
  return parsed.data;
}

/** The deepest nesting of arrays and objects a request body may have (no route needs more than a few). */
export const MAX_JSON_DEPTH = 64;

/**
 * The deepest nesting of `[` / `{` in a JSON text (strings skipped), counted without recursion:
 * a body nested thousands of levels deep is refused before anything walks it.
 *
 * @example
 * nestingDepth('{"a":[1,{"b":2}]}'); // 3
 */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (inString) {
      if (code === 0x5c)
        i++; // a backslash escapes the next character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b || code === 0x5b) deepest = Math.max(deepest, ++depth);
    else if (code === 0x7d || code === 0x5d) depth--;
  }
  return deepest;
}

/**
 * The request's JSON body checked with `schema`: 415 when it is not JSON, 400 when it does not
 * parse (`BAD_JSON`) or holds a string that is not well-formed Unicode (`INVALID_UNICODE`: a
 * lone surrogate, which no store can keep), 422 with the zod issues when it fails the schema. An
 * empty body reads as `{}` when `optional`.
 *
 * @example
 * const body = await readJson(c, z.strictObject({ title: z.string() }));
 */
export async function readJson<S extends z.ZodType>(c: Context, schema: S, { optional = false } = {}): Promise<z.output<S>> {
  const text = await c.req.text();
  let value: unknown = {};
  if (text.trim() !== '') {
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/([a-z0-9.+-]*\+)?json\b/i.test(type))
      throw new HttpProblem(415, 'UNSUPPORTED_MEDIA_TYPE', 'request body must be application/json');
    try {
      value = JSON.parse(text);
    } catch {
      throw new HttpProblem(400, 'BAD_JSON', 'request body is not valid JSON');
    }
    if (nestingDepth(text) > MAX_JSON_DEPTH)
      throw new HttpProblem(400, 'BAD_JSON', `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
    const illFormed = illFormedPath(value);
    if (illFormed !== undefined)
      throw new HttpProblem(
        400,
        'INVALID_UNICODE',
        `request body: ${illFormed.join('.') || '(root)'} is not well-formed Unicode (lone surrogate)`,
      );
  } else if (!optional) {
    throw new HttpProblem(422, 'VALIDATION_FAILED', 'request body is required');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const detail = parsed.error.issues
      .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
      .join('; ');
    throw new HttpProblem(422, 'VALIDATION_FAILED', `invalid request body: ${detail}`, {
      extensions: { issues: parsed.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })) },
    });
  }
  return parsed.data;
}
