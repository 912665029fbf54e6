// The session tree: roots, their children nested, each run with its job-machine state, status,
// tokens, tool calls, last heartbeat age, elapsed, answer or error, and cancel buttons.
import { h } from 'preact';
import htm from 'htm';
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

function RunCells({ row, states, now }) {
  if (!row) return null;
  const elapsed = elapsedOf(row, now);
  const beat = row.lastHeartbeatAt === undefined || !LIVE.has(row.status) ? '—' : `${duration(Math.max(0, now - row.lastHeartbeatAt))} ago`;
  return html`<span class="cells">
    <span class="job-state" data-testid="job-state">${stateLabel(states)}</span>
    <span data-testid="tokens">${row.tokens ?? '—'} tok</span>
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

/**
 * @param {{ sessions: object[], rowOf: (id) => object | undefined, statesOf: (row) => string[], selected: string, onSelect: (id) => void, onCancel: (id, tree) => void, now: number }} props
 */
export function SessionTree({ sessions, rowOf, statesOf, selected, onSelect, onCancel, now }) {
  const children = new Map();
  for (const session of sessions) {
    if (!session.parent_session_id) continue;
    const list = children.get(session.parent_session_id) ?? [];
    list.push(session);
    children.set(session.parent_session_id, list);
  }
  const node = (session) => {
    const row = rowOf(session.id);
    const status = row?.status ?? (session.kind === 'root' ? 'root' : statusOfMetadata(session.metadata?.last_run_status));
    const live = status === 'queued' || status === 'running';
    const kids = children.get(session.id) ?? [];
    return html`<li>
      <div
        class=${`node ${selected === session.id ? 'selected' : ''}`}
        data-testid=${`session-${session.id}`}
        data-status=${status}
        data-waiting=${row?.waitingOn ? 'true' : 'false'}
        onClick=${() => onSelect(session.id)}
      >
        <span
          class=${`badge ${row?.waitingOn && status === 'running' ? 'waiting' : status}`}
          data-testid="status"
          title=${row?.waitingOn ? `waiting for ${row.waitingOn.length} child run(s); its slot is given back` : ''}
          >${row?.waitingOn && status === 'running' ? 'waiting' : status}</span
        >
        <span class="title">${session.title}</span>
        <${RunCells} row=${row} states=${row ? statesOf(row) : []} now=${now} />
        ${row?.answer ? html`<span class="answer" title=${row.answer}>“${row.answer.slice(0, 60)}${row.answer.length > 60 ? '…' : ''}”</span>` : null}
        ${row?.error ? html`<span class="error">${row.error}</span>` : null}
        ${row?.reason ? html`<span class="reason">reason ${row.reason}</span>` : null}
        <span class="actions">
          ${session.kind === 'child' && live ? html`<button data-testid=${`cancel-${session.id}`} onClick=${(e) => (e.stopPropagation(), onCancel(session.id, false))}>cancel</button>` : null}
          ${kids.length > 0 ? html`<button data-testid=${`cancel-tree-${session.id}`} onClick=${(e) => (e.stopPropagation(), onCancel(session.id, true))}>cancel tree</button>` : null}
        </span>
      </div>
      ${
        kids.length > 0
          ? html`<ul>
              ${kids.map(node)}
            </ul>`
          : null
      }
    </li>`;
  };
  const roots = sessions.filter((session) => session.kind === 'root' || !sessions.some((other) => other.id === session.parent_session_id));
  return html`<ul class="tree" data-testid="tree">
    ${roots.map(node)}
  </ul>`;
}

function statusOfMetadata(value) {
  return value === 'pending' ? 'queued' : (value ?? 'unknown');
}
