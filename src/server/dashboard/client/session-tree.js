// The session tree: roots, their children nested and collapsible, each run with its job-machine
// state, status, the cause of a live state, tokens, tool calls, last heartbeat age, elapsed,
// answer or error, a link to its run page, cancel buttons, and per-subtree totals (runs by
// status, tokens, wall time).
import { h } from 'preact';
import htm from 'htm';
import { formatMs } from './api.js';
import { runHref } from './router.js';
import { duration } from './run-rows.js';

const html = htm.bind(h);

/** The most specific active state of a run, for the row (`running`, `finalizing`, …). */
export function stateLabel(states) {
  const top = states.filter((id) => id.split('.').length === 2);
  return top.length > 0 ? top[0].split('.')[1] : '—';
}

const LIVE = new Set(['queued', 'running']);

/** A run's duration in ms from server times: start to end, or to now while it runs; undefined when unknown. */
export function elapsedOf(row, now) {
  if (row.startedAt === undefined) return undefined;
  if (row.endedAt !== undefined) return Math.max(0, row.endedAt - row.startedAt);
  return LIVE.has(row.status) ? Math.max(0, now - row.startedAt) : undefined;
}

function RunCells({ row, states, now, tokens }) {
  if (!row) return null;
  const elapsed = elapsedOf(row, now);
  const beat = row.lastHeartbeatAt === undefined || !LIVE.has(row.status) ? '—' : `${duration(Math.max(0, now - row.lastHeartbeatAt))} ago`;
  return html`<span class="cells">
    <span class="job-state" data-testid="job-state">${stateLabel(states)}</span>
    <span data-testid="tokens" title=${tokens === undefined ? 'streamed token chunks' : 'tokens (the run index)'}
      >${tokens ?? row.tokens ?? '—'} tok</span
    >
    <span>${row.tools} tool${row.tools === 1 ? '' : 's'}</span>
    <span title="last heartbeat">♥ ${beat}</span>
    <span title=${row.fromStore ? 'elapsed (from the stored session)' : 'elapsed'} data-testid="elapsed" data-ms=${elapsed ?? ''}
      >${duration(elapsed)}</span
    >
    ${
      row.fromStore
        ? html`<span class="stored" data-testid="stored" title="this run's events were dropped by retention: read from the stored session"
            >stored</span
          >`
        : null
    }
  </span>`;
}

const FINAL = new Set(['completed', 'error', 'cancelled', 'skipped']);

/**
 * Totals of a subtree (its child runs, the node's own run included): runs by status, tokens and
 * wall time (first start to last end, or to now while a run is live).
 * @returns {{ runs: number, byStatus: Record<string, number>, tokens: number, from?: number, to?: number }}
 */
export function subtreeTotals(id, childrenOf, statusOf, tokensOf, timesOf, now) {
  const totals = { runs: 0, byStatus: {}, tokens: 0, from: undefined, to: undefined };
  const walk = (sessionId, self) => {
    const status = statusOf(sessionId);
    if (!self && status !== undefined && status !== 'root') {
      totals.runs += 1;
      totals.byStatus[status] = (totals.byStatus[status] ?? 0) + 1;
      totals.tokens += tokensOf(sessionId) ?? 0;
      const { startedAt, endedAt } = timesOf(sessionId);
      if (startedAt !== undefined) {
        totals.from = Math.min(totals.from ?? startedAt, startedAt);
        const end = endedAt ?? (FINAL.has(status) ? undefined : now);
        if (end !== undefined) totals.to = Math.max(totals.to ?? end, end);
      }
    }
    for (const child of childrenOf(sessionId)) walk(child.id, false);
  };
  walk(id, true);
  return totals;
}

function Totals({ totals }) {
  const wall = totals.from !== undefined && totals.to !== undefined ? totals.to - totals.from : undefined;
  return html`<span class="subtotals" data-testid="subtotals" data-runs=${totals.runs} data-tokens=${totals.tokens}>
    ${totals.runs} run${totals.runs === 1 ? '' : 's'}:
    ${Object.entries(totals.byStatus).map(([status, count]) => html`<span class=${`dot ${status}`} data-testid=${`subtotal-${status}`}>${count} ${status}</span> `)}
    · ${totals.tokens} tok · ${formatMs(wall)} wall
  </span>`;
}

/**
 * @param {{ sessions: object[], rowOf: (id) => object | undefined, statesOf: (row) => string[], runOf?: (id) => object | undefined, causeOf?: (row) => string | undefined, collapsed?: Set<string>, onToggle?: (id) => void, selected: string, onSelect: (id) => void, onCancel: (id, tree) => void, now: number }} props
 */
export function SessionTree({
  sessions,
  rowOf,
  statesOf,
  runOf = () => undefined,
  causeOf = () => undefined,
  collapsed = new Set(),
  onToggle = () => {},
  selected,
  onSelect,
  onCancel,
  now,
}) {
  const children = new Map();
  for (const session of sessions) {
    if (!session.parent_session_id) continue;
    const list = children.get(session.parent_session_id) ?? [];
    list.push(session);
    children.set(session.parent_session_id, list);
  }
  const byId = new Map(sessions.map((session) => [session.id, session]));
  const childrenOf = (id) => children.get(id) ?? [];
  const statusOf = (id) => {
    const session = byId.get(id);
    if (session?.kind === 'root') return 'root';
    return rowOf(id)?.status ?? runOf(id)?.status ?? statusOfMetadata(session?.metadata?.last_run_status);
  };
  const tokensOf = (id) => runOf(id)?.total_tokens ?? rowOf(id)?.tokens;
  const timesOf = (id) => {
    const row = rowOf(id);
    const run = runOf(id);
    const at = (iso) => (iso ? Date.parse(iso) : undefined);
    return { startedAt: row?.startedAt ?? at(run?.started_at), endedAt: row?.endedAt ?? at(run?.ended_at) };
  };
  const node = (session) => {
    const row = rowOf(session.id);
    const run = runOf(session.id);
    const status = statusOf(session.id);
    const live = status === 'queued' || status === 'running';
    const kids = childrenOf(session.id);
    const folded = collapsed.has(session.id);
    const cause = live ? causeOf(row ?? (run ? { runId: run.run_id, status: run.status } : undefined), session) : undefined;
    const waiting = (row?.waitingOn !== undefined || cause?.startsWith('waiting')) && status === 'running';
    return html`<li>
      <div
        class=${`node ${selected === session.id ? 'selected' : ''}`}
        data-testid=${`session-${session.id}`}
        data-status=${status}
        data-waiting=${waiting ? 'true' : 'false'}
        onClick=${() => onSelect(session.id)}
      >
        ${
          kids.length > 0
            ? html`<button
                class="fold"
                data-testid=${`toggle-${session.id}`}
                aria-expanded=${folded ? 'false' : 'true'}
                aria-label=${folded ? 'expand' : 'collapse'}
                onClick=${(e) => (e.stopPropagation(), onToggle(session.id))}
              >
                ${folded ? '▸' : '▾'}
              </button>`
            : html`<span class="fold-space"></span>`
        }
        <span
          class=${`badge ${waiting ? 'waiting' : status}`}
          data-testid="status"
          title=${waiting ? 'waiting for its child runs; its slot is given back' : ''}
          >${waiting ? 'waiting' : status}</span
        >
        <span class="title">${session.title}</span>
        ${cause ? html`<span class="cause" data-testid="cause">${cause}</span>` : null}
        <${RunCells} row=${row} states=${row ? statesOf(row) : []} now=${now} tokens=${run?.total_tokens} />
        ${row?.answer ? html`<span class="answer" title=${row.answer}>“${row.answer.slice(0, 60)}${row.answer.length > 60 ? '…' : ''}”</span>` : null}
        ${row?.error ? html`<span class="error">${row.error}</span>` : null}
        ${row?.reason ? html`<span class="reason">reason ${row.reason}</span>` : null}
        ${kids.length > 0 ? html`<${Totals} totals=${subtreeTotals(session.id, childrenOf, statusOf, tokensOf, timesOf, now)} />` : null}
        <span class="actions">
          ${run ? html`<a class="run-link" href=${runHref(run.run_id)} data-testid=${`open-${session.id}`} onClick=${(e) => e.stopPropagation()}>run page</a>` : null}
          ${session.kind === 'child' && live ? html`<button data-testid=${`cancel-${session.id}`} onClick=${(e) => (e.stopPropagation(), onCancel(session.id, false))}>cancel</button>` : null}
          ${kids.length > 0 ? html`<button data-testid=${`cancel-tree-${session.id}`} onClick=${(e) => (e.stopPropagation(), onCancel(session.id, true))}>cancel tree</button>` : null}
        </span>
      </div>
      ${
        kids.length > 0 && !folded
          ? html`<ul>
              ${kids.map(node)}
            </ul>`
          : null
      }
    </li>`;
  };
  const roots = sessions.filter((session) => session.kind === 'root' || !byId.has(session.parent_session_id));
  return html`<ul class="tree" data-testid="tree">
    ${roots.map(node)}
  </ul>`;
}

function statusOfMetadata(value) {
  return value === 'pending' ? 'queued' : (value ?? 'unknown');
}
