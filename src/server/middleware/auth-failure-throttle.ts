import { createHash } from 'node:crypto';

/** Options of {@link AuthFailureThrottle}. */
export interface AuthFailureThrottleOptions {
  /** Distinct wrong credentials a client may present per window. */
  max: number;
  /** Window length in ms, from a client's first failure. */
  windowMs: number;
  /** Clock reading in ms (the server's injected `now`). */
  now: () => number;
  /** Clients remembered at once; beyond it, expired ones and then the oldest are forgotten. @default 10000 */
  maxClients?: number;
}

interface Window {
  start: number;
  wrong: Set<string>;
}

/**
 * Counts wrong tokens per client address in a fixed window and says when a client is over the
 * limit. Only distinct wrong values count: a dashboard that keeps polling with a stale cookie is
 * one failure, a client guessing tokens is many. Values are kept as hashes, never as presented.
 *
 * @example
 * const throttle = new AuthFailureThrottle({ max: 10, windowMs: 60_000, now: () => clock.now() });
 * if (throttle.blockedFor(ip) > 0) return tooMany();
 * if (!ok) throttle.fail(ip, presented);
 */
export class AuthFailureThrottle {
  readonly #options: Required<AuthFailureThrottleOptions>;
  readonly #clients = new Map<string, Window>();

  constructor(options: AuthFailureThrottleOptions) {
    this.#options = { maxClients: 10_000, ...options };
  }

  /** Milliseconds until `client` may present a token again; 0 when it may now. */
  blockedFor(client: string): number {
    const window = this.#live(client);
    if (window === undefined || window.wrong.size < this.#options.max) return 0;
    return window.start + this.#options.windowMs - this.#options.now();
  }

  /** Records a wrong credential presented by `client`. */
  fail(client: string, credential: string): void {
    let window = this.#live(client);
    if (window === undefined) {
      this.#makeRoom();
      window = { start: this.#options.now(), wrong: new Set() };
      this.#clients.set(client, window);
    }
    if (window.wrong.size < this.#options.max) window.wrong.add(createHash('sha256').update(credential).digest('base64'));
  }

  /** Number of clients with a failure in their current window. */
  get size(): number {
    return this.#clients.size;
  }

  /** The client's window, unless it has ended (then it is forgotten). */
  #live(client: string): Window | undefined {
    const window = this.#clients.get(client);
    if (window !== undefined && this.#options.now() >= window.start + this.#options.windowMs) {
      this.#clients.delete(client);
      return undefined;
    }
    return window;
  }

  #makeRoom(): void {
    if (this.#clients.size < this.#options.maxClients) return;
    for (const client of [...this.#clients.keys()]) this.#live(client);
    // Still full: forget the oldest (a Map iterates in insertion order).
    while (this.#clients.size >= this.#options.maxClients) {
      const oldest = this.#clients.keys().next();
      if (oldest.done === true) break;
      this.#clients.delete(oldest.value);
    }
  }
}
