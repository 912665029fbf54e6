/** Counts `sub_session_completed` events on a parent stream and waits for a number of them. */
import type { Observable } from 'rxjs';
import type { SessionEventEnvelope } from '../../machines/agent-event.events.js';

/** A live count of completions, by status. */
export interface CompletionCounter {
  readonly total: number;
  readonly byStatus: Record<string, number>;
  /** Resolves once `total >= n`; rejects when no completion arrived for `stallMs`. */
  until(n: number, stallMs?: number): Promise<void>;
  /** Completions whose status was not `completed`, as `status:count` text (empty when none). */
  problems(): string;
  unsubscribe(): void;
}

/** Subscribes to `events$` and counts completions. */
export function countCompletions(
  events$: Observable<SessionEventEnvelope>,
  onCompleted?: (childSessionId: string) => void,
): CompletionCounter {
  let total = 0;
  const byStatus: Record<string, number> = {};
  let waiter: { n: number; resolve: () => void } | undefined;
  const subscription = events$.subscribe(({ event }) => {
    if (event.type !== 'sub_session_completed') return;
    total += 1;
    byStatus[event.status] = (byStatus[event.status] ?? 0) + 1;
    onCompleted?.(event.child_session_id);
    if (waiter && total >= waiter.n) {
      const { resolve } = waiter;
      waiter = undefined;
      resolve();
    }
  });
  return {
    get total() {
      return total;
    },
    byStatus,
    until(n, stallMs = 60_000) {
      if (total >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        let seen = total;
        const watchdog = setInterval(() => {
          if (total === seen) {
            clearInterval(watchdog);
            reject(new Error(`bench: stalled at ${total}/${n} completions for ${stallMs} ms`));
          }
          seen = total;
        }, stallMs);
        waiter = {
          n,
          resolve: () => {
            clearInterval(watchdog);
            resolve();
          },
        };
      });
    },
    problems() {
      return Object.entries(byStatus)
        .filter(([status]) => status !== 'completed')
        .map(([status, count]) => `${status}:${count}`)
        .join(', ');
    },
    unsubscribe: () => subscription.unsubscribe(),
  };
}
