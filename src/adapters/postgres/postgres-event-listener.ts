import type { Client } from 'pg';
import { z } from 'zod';
import type { SproutError } from '../../errors.js';
import type { PostgresDatabase } from './postgres-database.js';

/**
 * What {@link PostgresEventLog.changes$} tells: a session's stream got `fromSeq`…`toSeq` (committed,
 * by any process on the same schema), or `resync` — the listening connection was lost and came
 * back, so notifications may have been missed: read again what you follow.
 *
 * @example
 * const change: PostgresEventLogChange = { type: 'appended', sessionId: 'root', fromSeq: 4, toSeq: 6 };
 */
export type PostgresEventLogChange = { type: 'appended'; sessionId: string; fromSeq: number; toSeq: number } | { type: 'resync' };

const noop = (): void => undefined;

const payloadSchema = z.object({ s: z.string(), f: z.number().int(), t: z.number().int() });

/**
 * The `LISTEN` connection of a `PostgresEventLog`: one dedicated client (not pooled) on the
 * schema's channel, turning each notification (`{"s":session,"f":from,"t":to}`) into an
 * `appended` change. When it fails it reconnects with a growing delay (up to 5 s), reports the
 * failure and emits `resync` once back, as notifications may have been missed.
 *
 * @example
 * const listener = new PostgresEventListener(database, (change) => changes.next(change), report);
 * await listener.ready(); // LISTEN is in effect
 * listener.stop();
 */
export class PostgresEventListener {
  readonly #db: PostgresDatabase;
  readonly #emit: (change: PostgresEventLogChange) => void;
  readonly #report: (error: SproutError) => void;
  #client: Client | undefined;
  #ready: Promise<void>;
  #stopped = false;
  #failures = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(db: PostgresDatabase, emit: (change: PostgresEventLogChange) => void, report: (error: SproutError) => void) {
    this.#db = db;
    this.#emit = emit;
    this.#report = report;
    this.#ready = this.#connect();
    this.#ready.catch((error: unknown) => this.#lost(error));
  }

  /** Resolves once `LISTEN` is in effect (on the current connection attempt). */
  ready(): Promise<void> {
    return this.#ready;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    void client?.end().catch(noop);
  }

  async #connect(): Promise<void> {
    const client = this.#db.newClient();
    this.#client = client;
    client.on('error', (error) => this.#lost(error, client));
    client.on('notification', (message) => {
      if (message.channel !== this.#db.channel || message.payload === undefined) return;
      let parsed: z.infer<typeof payloadSchema>;
      try {
        parsed = payloadSchema.parse(JSON.parse(message.payload));
      } catch {
        return;
      }
      this.#emit({ type: 'appended', sessionId: parsed.s, fromSeq: parsed.f, toSeq: parsed.t });
    });
    try {
      await this.#db.ready();
      if (this.#stopped) return;
      await client.connect();
      await client.query(`LISTEN "${this.#db.channel}"`);
    } catch (error) {
      // Forget the client first, so its own 'error' event is not taken for a second loss.
      if (this.#client === client) this.#client = undefined;
      void client.end().catch(noop);
      throw this.#db.unavailable(error, 'listening for changes');
    }
    if (this.#stopped) void client.end().catch(noop);
  }

  #lost(error: unknown, client?: Client): void {
    if (this.#stopped || (client !== undefined && client !== this.#client)) return;
    this.#client = undefined;
    if (client) void client.end().catch(noop);
    this.#report(this.#db.unavailable(error, 'listening for changes'));
    this.#failures++;
    const delay = Math.min(5000, 100 * 2 ** Math.min(this.#failures, 6));
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#stopped) return;
      this.#ready = this.#connect();
      this.#ready.then(
        () => {
          this.#failures = 0;
          this.#emit({ type: 'resync' });
        },
        (failure: unknown) => this.#lost(failure),
      );
    }, delay);
    this.#timer.unref();
  }
}
