import { SproutError } from '../errors.js';

/** An RFC 9457 problem document with Sprout's stable `code`. */
export interface ProblemDocument {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  [extension: string]: unknown;
}

/**
 * An HTTP failure the server answers with `application/problem+json` (RFC 9457). `code` is a
 * stable string (`SESSION_NOT_FOUND`, `QUEUE_FULL`, …) and `status` the HTTP status.
 *
 * @example
 * throw new HttpProblem(404, 'SESSION_NOT_FOUND', 'session r1 not found');
 */
export class HttpProblem extends SproutError {
  /** HTTP status code. */
  readonly status: number;
  /** Extra members of the problem document (e.g. `issues`). */
  readonly extensions: Record<string, unknown>;
  /** Extra response headers (e.g. `Retry-After`). */
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    code: string,
    detail: string,
    options: { extensions?: Record<string, unknown>; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(code, detail, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = status;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }
}

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/**
 * The `application/problem+json` response of a {@link HttpProblem}.
 *
 * @example
 * return problemResponse(new HttpProblem(422, 'VALIDATION_FAILED', 'title: required'));
 */
export function problemResponse(problem: HttpProblem): Response {
  const body: ProblemDocument = {
    type: `https://sprout.dev/problems/${problem.code.toLowerCase().replaceAll('_', '-')}`,
    title: titles[problem.status] ?? 'Error',
    status: problem.status,
    detail: problem.message,
    code: problem.code,
    ...problem.extensions,
  };
  return new Response(JSON.stringify(body), {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', ...problem.headers },
  });
}
