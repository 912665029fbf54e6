import { SproutError } from '../../errors.js';

/**
 * A model provider failed: an HTTP 4xx/5xx answer, a body that is not valid JSON, a stream that
 * was cut mid-way, a network error. The message names the cause (status code, URL, body excerpt)
 * and `cause` keeps the original error. `statusCode` is set when the provider answered over HTTP.
 *
 * @example
 * try { await agent.execute(session, request); }
 * catch (e) { if (e instanceof AgentProviderError && e.statusCode === 429) backOff(); }
 */
export class AgentProviderError extends SproutError {
  /** HTTP status of the failed provider call, when there was one. */
  readonly statusCode: number | undefined;

  constructor(message: string, options?: { cause?: unknown; statusCode?: number | undefined }) {
    super('AGENT_PROVIDER_ERROR', message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.statusCode = options?.statusCode;
  }

  /**
   * Wraps whatever a provider threw or streamed as an error into an {@link AgentProviderError}
   * whose message says what happened.
   *
   * @example
   * AgentProviderError.from(apiCallError).message; // 'model provider failed: HTTP 500 from http://…: …'
   */
  static from(error: unknown): AgentProviderError {
    if (error instanceof AgentProviderError) return error;
    const { text, statusCode } = describeProviderError(error);
    return new AgentProviderError(`model provider failed: ${text}`, { cause: error, statusCode });
  }
}

/**
 * The run's `AbortSignal` fired. `name` is `'AbortError'` (as for `fetch`), `cause` is the
 * signal's reason. Sprout decides `cancelled` from its own cancel request, not from this error.
 *
 * @example
 * controller.abort();
 * await agent.execute(session, { model, signal: controller.signal, emit }); // rejects: AgentAbortedError (name 'AbortError')
 */
export class AgentAbortedError extends SproutError {
  override readonly name = 'AbortError';

  constructor(reason?: unknown) {
    super('AGENT_ABORTED', 'agent run was aborted', reason === undefined ? undefined : { cause: reason });
  }
}

/**
 * An optional peer dependency (`ai`, `@ai-sdk/openai-compatible`) is not installed.
 *
 * @example
 * // without `npm install ai@^6`:
 * await aiSdkAgent({ model }).execute(session, request); // rejects: MissingPeerDependencyError
 */
export class MissingPeerDependencyError extends SproutError {
  readonly packageName: string;

  constructor(packageName: string, range: string, cause: unknown) {
    super(
      'MISSING_PEER_DEPENDENCY',
      `the AI SDK agent needs the optional peer dependency '${packageName}' (npm install ${packageName}@${range}): ${messageOf(cause)}`,
      { cause },
    );
    this.packageName = packageName;
  }
}

const BODY_EXCERPT_CHARS = 300;

/** Shape of the AI SDK's `APICallError` and `RetryError`, read by duck typing (no runtime import). */
interface ProviderErrorLike {
  statusCode?: unknown;
  url?: unknown;
  responseBody?: unknown;
  lastError?: unknown;
  errors?: unknown;
}

/** Describes a provider failure in one line, following `lastError` and `cause` chains. */
function describeProviderError(error: unknown): { text: string; statusCode: number | undefined } {
  const like = (typeof error === 'object' && error !== null ? error : {}) as ProviderErrorLike;
  if (like.lastError !== undefined && Array.isArray(like.errors)) {
    const last = describeProviderError(like.lastError);
    return { text: `${last.text} (after ${like.errors.length} attempts)`, statusCode: last.statusCode };
  }
  if (typeof like.statusCode === 'number') {
    const where = typeof like.url === 'string' ? ` from ${like.url}` : '';
    if (like.statusCode < 400) {
      // The server said yes, then the response broke (cut stream, unreadable body): the cause says how.
      return { text: `the HTTP ${like.statusCode} response${where} broke off: ${withCauses(error)}`, statusCode: undefined };
    }
    const body =
      typeof like.responseBody === 'string' && like.responseBody.trim() !== '' ? ` — response body: ${excerpt(like.responseBody)}` : '';
    return { text: `HTTP ${like.statusCode}${where}: ${withCauses(error)}${body}`, statusCode: like.statusCode };
  }
  return { text: withCauses(error), statusCode: undefined };
}

/** `Name: message (cause: Name: message …)`, at most a few levels deep. */
function withCauses(error: unknown, depth = 0): string {
  const head =
    error instanceof Error && !['Error', 'AI_APICallError'].includes(error.name) ? `${error.name}: ${messageOf(error)}` : messageOf(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause === undefined || depth >= 3) return head;
  // Skip a cause the message already quotes (the AI SDK often copies it in).
  if (head.includes(messageOf(cause)))
    return cause instanceof Error && cause.cause !== undefined ? `${head} (cause: ${withCauses(cause.cause, depth + 1)})` : head;
  return `${head} (cause: ${withCauses(cause, depth + 1)})`;
}

/** The message of an error, or a printable form of a non-error value. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return (error.message || error.name).replace(/\s*\n\s*/g, ' ');
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > BODY_EXCERPT_CHARS ? `${flat.slice(0, BODY_EXCERPT_CHARS)}…` : flat;
}
