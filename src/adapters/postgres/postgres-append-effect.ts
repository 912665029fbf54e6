import type { AgentEvent } from '../../../machines/agent-event.events.js';
import { ledgerChange } from '../../streams/ledger-change.js';
import { runIndexChange } from '../../streams/run-index-change.js';

/**
 * What one append changes besides the events, as `append_events` (migration 6) reads it: the run
 * ledger change (`open` / `close`) and the run index change (`announce`, `running`, `usage`,
 * `end`) of its run, its seq left for the function to fill in.
 */
export interface AppendEffect {
  ledger?: 'open' | 'close';
  index?: 'announce' | 'running' | 'usage' | 'end';
  run: string;
  child?: string;
  title?: string | null;
  /** `announce` and `end`: the write time; `running`: the heartbeat's timestamp. */
  at?: string;
  prompt?: number;
  completion?: number;
  total?: number;
  status?: string;
  reason?: string | null;
  error?: string | null;
}

/**
 * The JSON `append_events` gets for an append to `sessionId` written at `at`: its
 * {@link AppendEffect}, or `null` when it changes neither the ledger nor the run index (most
 * events). Built from `ledgerChange` and `runIndexChange`, the rules every adapter shares; token
 * counts are rounded as the run index stores them.
 *
 * @example
 * appendEffect('p', { type: 'sub_session_completed', parent_session_id: 'p', child_session_id: 'c', run_id: 'r1', status: 'completed' }, now);
 * // '{"run":"r1","ledger":"close","index":"end","status":"completed","reason":null,"error":null,"at":"…"}'
 */
export function appendEffect(sessionId: string, event: AgentEvent, at: string): string | null {
  const ledger = ledgerChange(sessionId, 0, event);
  const index = runIndexChange(sessionId, 0, event, at);
  if (ledger === undefined && index === undefined) return null;
  const effect: AppendEffect = { run: ledger?.kind === 'open' ? ledger.run.runId : (ledger?.runId ?? index!.runId) };
  if (ledger?.kind === 'open') {
    effect.ledger = 'open';
    effect.child = ledger.run.childSessionId;
    effect.title = ledger.run.title ?? null;
  } else if (ledger?.kind === 'close') {
    effect.ledger = 'close';
  }
  if (index !== undefined) {
    effect.index = index.kind;
    if (index.kind === 'announce') {
      effect.child = index.childSessionId;
      effect.title = index.title;
      effect.at = index.at;
    } else if (index.kind === 'running') {
      effect.at = index.at;
    } else if (index.kind === 'usage') {
      effect.prompt = Math.round(index.prompt);
      effect.completion = Math.round(index.completion);
      effect.total = Math.round(index.total);
    } else {
      effect.status = index.status;
      effect.reason = index.reason;
      effect.error = index.error;
      effect.at = index.at;
    }
  }
  return JSON.stringify(effect);
}
